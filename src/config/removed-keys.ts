/**
 * Keys that earlier versions wrote to config.yaml and that no longer do anything. A file holding
 * them still loads (the daemon wrote it itself): they are dropped with a warning naming each.
 */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  'REST.WorkerThreadPoolSize': 'requests are served on one event loop; there is no thread pool to size',
  'REST.IOThreadPoolSize': 'requests are served on one event loop; there is no thread pool to size',
  'REST.SSL.VerifyServerDelegate': 'nothing delegates server verification',
};

type JsonObject = Record<string, unknown>;

const isPlainObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A copy of `doc` without the removed keys, and a warning per key that was present. */
export function dropRemovedKeys(doc: unknown): { doc: unknown; warnings: string[] } {
  if (!isPlainObject(doc)) return { doc, warnings: [] };
  const copy = structuredClone(doc);
  const warnings: string[] = [];
  for (const [path, reason] of Object.entries(REMOVED_KEYS)) {
    const keys = path.split('.');
    let parent: unknown = copy;
    for (const key of keys.slice(0, -1)) parent = isPlainObject(parent) && Object.hasOwn(parent, key) ? parent[key] : undefined;
    const last = keys[keys.length - 1];
    if (!isPlainObject(parent) || !Object.hasOwn(parent, last)) continue;
    delete parent[last];
    warnings.push(`${path} is no longer used and was ignored: ${reason}`);
  }
  return { doc: copy, warnings };
}
