import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { writeFileAtomic } from '../store/atomic-file.js';
import { configDocumentSchema, normaliseConfig, type ConfigDocument } from './config-schema.js';
import { applyEnvOverrides } from './env-overrides.js';

export class ConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigError';
  }
}

export interface ConfigPaths {
  home: string;
  file: string;
}

export function configPaths(home: string): ConfigPaths {
  return { home, file: join(home, 'config', 'config.yaml') };
}

export interface LoadedConfig {
  /** What is in the file (no env overrides). */
  stored: ConfigDocument;
  /** Stored + env overrides, normalised. */
  effective: ConfigDocument;
  envApplied: string[];
  envRejected: string[];
}

type JsonObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setOwn(target: JsonObject, key: string, value: unknown): void {
  // defineProperty so a "__proto__" key from JSON stays a plain key instead of changing the prototype.
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** Empty YAML values (`key:`) read as null; treat them as absent so defaults apply. */
function dropNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropNulls);
  if (!isPlainObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) setOwn(out, k, dropNulls(v));
  return out;
}

/**
 * Applies env overrides to `stored`, then normalises. A variable whose value the schema refuses
 * (e.g. an unknown LogLevel) is dropped and reported as rejected, so a bad env var cannot stop the daemon.
 */
function computeEffective(stored: ConfigDocument, env: NodeJS.ProcessEnv): { effective: ConfigDocument; applied: string[]; rejected: string[] } {
  const usable: NodeJS.ProcessEnv = { ...env };
  const rejected: string[] = [];
  for (;;) {
    const result = applyEnvOverrides(stored as unknown as JsonObject, usable);
    for (const name of result.rejected) if (!rejected.includes(name)) rejected.push(name);
    const parsed = configDocumentSchema.safeParse(result.doc);
    if (parsed.success) return { effective: normaliseConfig(parsed.data), applied: result.applied, rejected };
    const culprits = new Set<string>();
    for (const issue of parsed.error.issues) {
      const segments = issue.path.map(String);
      for (let i = segments.length; i > 0; i--) {
        const name = 'APPMESH_' + segments.slice(0, i).join('_');
        if (result.applied.includes(name)) culprits.add(name);
      }
    }
    // Nothing to blame on the environment: the stored document itself is invalid.
    if (culprits.size === 0) throw new ConfigError(`invalid configuration: ${formatIssue(parsed.error.issues[0])}`);
    for (const name of culprits) {
      delete usable[name];
      if (!rejected.includes(name)) rejected.push(name);
    }
  }
}

export async function loadConfig(home: string, env: NodeJS.ProcessEnv): Promise<LoadedConfig> {
  const { file } = configPaths(home);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`, { cause: error });
    }
  }

  let raw: unknown = {};
  if (text !== undefined) {
    try {
      raw = YAML.parse(text) ?? {};
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`, { cause: error });
    }
    if (!isPlainObject(raw)) throw new ConfigError(`config file ${file}: top level must be a mapping`);
  }

  const parsed = configDocumentSchema.safeParse(dropNulls(raw));
  if (!parsed.success) throw new ConfigError(`config file ${file} is invalid: ${formatIssue(parsed.error.issues[0])}`);
  const stored = parsed.data;
  const { effective, applied, rejected } = computeEffective(stored, env);
  return { stored, effective, envApplied: applied, envRejected: rejected };
}

export async function saveConfig(home: string, stored: ConfigDocument): Promise<void> {
  // 0600: the document holds the JWT secret.
  await writeFileAtomic(configPaths(home).file, YAML.stringify(stored), { mode: 0o600 });
}

/** RFC 7386 JSON merge patch. Pure: returns a new value sharing nothing with its inputs. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch === undefined ? undefined : structuredClone(patch);
  const result: JsonObject = {};
  if (isPlainObject(target)) for (const [k, v] of Object.entries(target)) setOwn(result, k, structuredClone(v));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else setOwn(result, key, mergePatch(Object.prototype.hasOwnProperty.call(result, key) ? result[key] : undefined, value));
  }
  return result;
}

function getPath(obj: unknown, path: string[]): { present: boolean; value: unknown } {
  let node = obj;
  for (const key of path) {
    if (!isPlainObject(node) || !Object.prototype.hasOwnProperty.call(node, key)) return { present: false, value: undefined };
    node = node[key];
  }
  return { present: true, value: node };
}

/**
 * Validates and applies a client's partial document (POST /appmesh/config). Returns the new
 * document to save and the new running configuration; throws ConfigError on invalid input.
 */
export function applyConfigPatch(
  stored: ConfigDocument,
  patch: unknown,
  env: NodeJS.ProcessEnv,
): { stored: ConfigDocument; effective: ConfigDocument } {
  if (!isPlainObject(patch)) throw new ConfigError('configuration update must be a JSON object');

  // Version is read-only.
  const effectivePatch: JsonObject = {};
  for (const [k, v] of Object.entries(patch)) if (k !== 'Version') setOwn(effectivePatch, k, v);

  const port = getPath(patch, ['REST', 'RestListenPort']);
  if (port.present && port.value !== null) {
    if (typeof port.value !== 'number') throw new ConfigError('REST.RestListenPort: expected number');
    if (!Number.isInteger(port.value) || port.value < 1 || port.value > 65535) {
      throw new ConfigError('REST.RestListenPort: must be an integer between 1 and 65535');
    }
  }
  const interval = getPath(patch, ['BaseConfig', 'ScheduleIntervalSeconds']);
  if (interval.present && interval.value !== null) {
    if (typeof interval.value !== 'number') throw new ConfigError('BaseConfig.ScheduleIntervalSeconds: expected number');
    if (!Number.isInteger(interval.value) || interval.value < 1) {
      throw new ConfigError('BaseConfig.ScheduleIntervalSeconds: must be a positive integer');
    }
  }

  const merged = mergePatch(stored, effectivePatch);
  const parsed = configDocumentSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(formatIssue(parsed.error.issues[0]));
  const next = parsed.data;
  next.Version = stored.Version;
  // Clearing the secret would leave HS256 tokens signed with an empty key.
  if (next.REST.JWT.JWTSalt === '' && stored.REST.JWT.JWTSalt !== '') {
    throw new ConfigError('REST.JWT.JWTSalt: must not be empty');
  }

  const { effective } = computeEffective(next, env);
  return { stored: next, effective };
}
