import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { writeFileAtomic } from '../store/atomic-file.js';
import { configDocumentSchema, type ConfigDocument } from './config-schema.js';
import { configYaml } from './config-yaml.js';
import { parseYaml } from '../store/block-yaml.js';
import { applyEnvOverrides } from './env-overrides.js';
import { dropRemovedKeys } from './removed-keys.js';
import { allowedValues, closestKey, fieldAt } from './schema-fields.js';

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

/** Homes whose configuration is read from and saved to another file (`appmesh-ts --config <file>`). */
const configFiles = new Map<string, string>();

export function useConfigFile(home: string, file: string | undefined): void {
  if (file) configFiles.set(home, file);
  else configFiles.delete(home);
}

export function configPaths(home: string): ConfigPaths {
  return { home, file: configFiles.get(home) ?? join(home, 'config', 'config.yaml') };
}

export interface LoadedConfig {
  /** What is in the file (no env overrides). */
  stored: ConfigDocument;
  /** Stored + env overrides. */
  effective: ConfigDocument;
  envApplied: string[];
  /** Keys of the file that no longer do anything, dropped (one message each, to log). */
  warnings: string[];
}

type JsonObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function setOwn(target: JsonObject, key: string, value: unknown): void {
  // defineProperty so a "__proto__" key from JSON stays a plain key instead of changing the prototype.
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

/** A value as it appears in a message: short, and quoted when it is text. */
function shown(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let node = doc;
  for (const key of path) node = isPlainObject(node) ? node[String(key)] : undefined;
  return node;
}

/**
 * The document is parsed a handful of times in a daemon's life (start, reload, update): zod's
 * compiled fast path would cost more to generate than it ever saves, on every start.
 */
const PARSED_RARELY = { jitless: true } as const;

// zod's own wording, replaced by the key's allowed values; any other message is the schema's own and kept.
const GENERIC_MESSAGE = /^(Invalid input|Invalid option|Too big|Too small|Invalid union)/;

/** One schema issue in an operator's words: the key, the value, what is allowed. */
function describeIssue(issue: z.core.$ZodIssue, doc: unknown): string {
  const path = issue.path.filter((key): key is string | number => typeof key !== 'symbol');
  const where = path.join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((key) => {
        const hint = closestKey(path, key);
        return `${[...path, key].join('.')}: unknown key${hint ? ` (did you mean ${[...path, hint].join('.')}?)` : ''}`;
      })
      .join('; ');
  }
  const field = fieldAt(path);
  const value = valueAt(doc, path);
  const own = GENERIC_MESSAGE.test(issue.message) ? '' : `: ${issue.message}`;
  if (issue.code === 'custom') return `${where}: ${shown(value)}${own}`;
  const allowed = field ? ` (allowed: ${allowedValues(field)})` : '';
  const what = issue.code === 'too_big' || issue.code === 'too_small' ? 'is out of range' : 'is not allowed';
  return `${where || 'the document'}: ${shown(value)} ${what}${allowed}${own}`;
}

/** Every issue (up to a few), so one start-up names all the keys to fix. */
function describeIssues(error: z.ZodError, doc: unknown): string {
  const issues = error.issues.slice(0, 5).map((issue) => describeIssue(issue, doc));
  if (error.issues.length > 5) issues.push(`and ${error.issues.length - 5} more`);
  return issues.join('; ');
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
 * Applies env overrides to `stored`. A variable whose value cannot be read as its key's type, or
 * that the schema refuses, is an error naming the variable, its value and what the key accepts:
 * a service must not start on other settings than the ones it was given.
 */
function computeEffective(stored: ConfigDocument, env: NodeJS.ProcessEnv): { effective: ConfigDocument; applied: string[] } {
  const result = applyEnvOverrides(stored as unknown as JsonObject, env);
  const unreadable = result.rejected.map((name) => {
    const path = result.paths[name] ?? [];
    const field = fieldAt(path);
    return `${name}=${shown(env[name])}: ${path.join('.')} must be ${field ? allowedValues(field) : 'of its type'}`;
  });
  if (unreadable.length) throw new ConfigError(`invalid environment override: ${unreadable.join('; ')}`);
  const parsed = configDocumentSchema.safeParse(result.doc, PARSED_RARELY);
  if (parsed.success) return { effective: parsed.data, applied: result.applied };
  const described = parsed.error.issues.slice(0, 5).map((issue) => {
    const culprit = result.applied.find((name) => (result.paths[name] ?? []).every((key, i) => issue.path[i] === key));
    return culprit ? `${culprit}=${shown(env[culprit])}: ${describeIssue(issue, result.doc)}` : describeIssue(issue, result.doc);
  });
  throw new ConfigError(`invalid configuration: ${described.join('; ')}`);
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
      // The form the daemon writes is read without the YAML library (a few ms of every start).
      raw = (await parseYaml(text)) ?? {};
    } catch (error) {
      throw new ConfigError(`config file ${file} is not valid YAML: ${(error as Error).message}`, { cause: error });
    }
    if (!isPlainObject(raw)) throw new ConfigError(`config file ${file}: top level must be a mapping`);
  }

  const { doc, warnings } = dropRemovedKeys(dropNulls(raw));
  const parsed = configDocumentSchema.safeParse(doc, PARSED_RARELY);
  if (!parsed.success) throw new ConfigError(`config file ${file} is invalid: ${describeIssues(parsed.error, doc)}`);
  const stored = parsed.data;
  const { effective, applied } = computeEffective(stored, env);
  return { stored, effective, envApplied: applied, warnings: warnings.map((warning) => `config file ${file}: ${warning}`) };
}

/** The running configuration of a stored document just saved (the same as reading the file back). */
export function effectiveConfig(stored: ConfigDocument, env: NodeJS.ProcessEnv): ConfigDocument {
  return computeEffective(stored, env).effective;
}

export async function saveConfig(home: string, stored: ConfigDocument): Promise<void> {
  // 0600: the document holds the JWT secret.
  await writeFileAtomic(configPaths(home).file, configYaml(stored), { mode: 0o600 });
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

/**
 * Validates and applies a client's partial document (POST /appmesh/config). Returns the new
 * document to save, the new running configuration and the keys dropped as no longer used;
 * throws ConfigError naming every refused key.
 */
export function applyConfigPatch(
  stored: ConfigDocument,
  patch: unknown,
  env: NodeJS.ProcessEnv,
): { stored: ConfigDocument; effective: ConfigDocument; warnings: string[] } {
  if (!isPlainObject(patch)) throw new ConfigError('configuration update must be a JSON object');

  // Version is read-only.
  const effectivePatch: JsonObject = {};
  for (const [k, v] of Object.entries(patch)) if (k !== 'Version') setOwn(effectivePatch, k, v);
  const { doc: current, warnings } = dropRemovedKeys(effectivePatch);

  const merged = mergePatch(stored, current);
  const parsed = configDocumentSchema.safeParse(merged, PARSED_RARELY);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, merged));
  const next = parsed.data;
  next.Version = stored.Version;
  // Clearing the secret would leave HS256 tokens signed with an empty key.
  if (next.REST.JWT.JWTSalt === '' && stored.REST.JWT.JWTSalt !== '') {
    throw new ConfigError('REST.JWT.JWTSalt: must not be empty');
  }

  const { effective } = computeEffective(next, env);
  return { stored: next, effective, warnings };
}
