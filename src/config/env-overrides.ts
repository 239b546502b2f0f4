export const ENV_PREFIX = 'APPMESH_';

export interface EnvOverrideResult<T> {
  doc: T;
  /** Env variable names whose value was applied. */
  applied: string[];
  /** Env variable names whose value could not be converted to the existing key's type. */
  rejected: string[];
  /** The key path each applied or rejected variable names. */
  paths: Record<string, string[]>;
}

type JsonObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const INTEGER = /^[+-]?\d+$/;

/** Converts `raw` to the type of `current`; `undefined` means not convertible. */
function convert(current: unknown, raw: string): unknown {
  if (typeof current === 'string') return raw;
  if (typeof current === 'number') {
    const text = raw.trim();
    if (!INTEGER.test(text)) return undefined;
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  if (typeof current === 'boolean') {
    const text = raw.trim().toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
    if (text !== '' && Number.isFinite(Number(text))) return Number(text) > 0;
    return undefined;
  }
  if (Array.isArray(current)) {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }
  return undefined;
}

/**
 * Overrides existing leaf keys from `APPMESH_<path joined by _>` variables. Walks the document's own
 * key paths rather than splitting variable names, because keys (e.g. labels) may contain `_`.
 * Returns a deep copy; the input is left untouched.
 */
export function applyEnvOverrides<T extends JsonObject>(doc: T, env: NodeJS.ProcessEnv): EnvOverrideResult<T> {
  const copy = structuredClone(doc);
  const applied: string[] = [];
  const rejected: string[] = [];
  const paths: Record<string, string[]> = {};

  const walk = (node: JsonObject, path: string[]): void => {
    for (const key of Object.keys(node)) {
      const value = node[key];
      const childPath = [...path, key];
      if (isPlainObject(value)) {
        walk(value, childPath);
        continue;
      }
      const name = ENV_PREFIX + childPath.join('_');
      const raw = env[name];
      if (raw === undefined || !Object.prototype.hasOwnProperty.call(env, name)) continue;
      paths[name] = childPath;
      const converted = convert(value, raw);
      if (converted === undefined) {
        if (!rejected.includes(name)) rejected.push(name);
        continue;
      }
      node[key] = converted;
      if (!applied.includes(name)) applied.push(name);
    }
  };

  walk(copy, []);
  return { doc: copy, applied, rejected, paths };
}
