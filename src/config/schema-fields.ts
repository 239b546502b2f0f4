import type { z } from 'zod';
import { configDocumentSchema } from './config-schema.js';

/*
 * Reads the config schema as data: which keys a section has, what a key accepts and what it means.
 * Error messages and the generated example configuration both come from here, so neither can
 * disagree with the schema.
 */

type Schema = z.core.$ZodType;

interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  out?: Schema;
  shape?: Record<string, Schema>;
  options?: Schema[];
  values?: unknown[];
  entries?: Record<string, unknown>;
  element?: Schema;
  checks?: Array<{ _zod: { def: { check: string; value?: unknown; minimum?: number; maximum?: number; inclusive?: boolean } } }>;
}

const defOf = (schema: Schema): Def => schema._zod.def as unknown as Def;

/** The schema under defaults, prefaults and pipes: the type that decides what is accepted. */
export function unwrap(schema: Schema): Schema {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional') && def.innerType) current = def.innerType;
    // A transform then a check (LogLevel): the check says what is accepted; a check then a transform: the input does.
    else if (def.type === 'pipe' && def.in && def.out) current = defOf(def.out).type === 'transform' ? def.in : def.out;
    else return current;
  }
}

/** The keys of a section (a strict object), or undefined for anything else. */
export function sectionKeys(schema: Schema): Record<string, Schema> | undefined {
  const def = defOf(unwrap(schema));
  return def.type === 'object' ? def.shape : undefined;
}

/** The schema of the key at `path` (e.g. ['REST', 'SSL', 'VerifyClient']), or undefined. */
export function fieldAt(path: readonly (string | number)[]): Schema | undefined {
  let current: Schema = configDocumentSchema;
  for (const key of path) {
    const keys = sectionKeys(current);
    if (!keys || !Object.hasOwn(keys, String(key))) return undefined;
    current = keys[String(key)];
  }
  return current;
}

export function describeField(schema: Schema): string {
  return (schema as unknown as { description?: string }).description ?? '';
}

function numberRange(def: Def): { min?: number; max?: number; integer: boolean } {
  const range: { min?: number; max?: number; integer: boolean } = { integer: false };
  for (const check of def.checks ?? []) {
    const c = check._zod.def;
    if (c.check === 'number_format') range.integer = true;
    if (c.check === 'greater_than' && typeof c.value === 'number') range.min = c.inclusive ? c.value : c.value + 1;
    if (c.check === 'less_than' && typeof c.value === 'number') range.max = c.inclusive ? c.value : c.value - 1;
  }
  return range;
}

/** What a key accepts, in words: "an integer from 1 to 65535", "one of none, isolated"... */
export function allowedValues(schema: Schema): string {
  const inner = unwrap(schema);
  const def = defOf(inner);
  switch (def.type) {
    case 'number': {
      const { min, max, integer } = numberRange(def);
      const kind = integer ? 'an integer' : 'a number';
      const top = max !== undefined && max < Number.MAX_SAFE_INTEGER ? max : undefined;
      if (min !== undefined && top !== undefined) return `${kind} from ${min} to ${top}`;
      if (min !== undefined) return `${kind} of at least ${min}`;
      return kind;
    }
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'enum':
      return `one of ${Object.values(def.entries ?? {}).join(', ')}`;
    case 'literal':
      return (def.values ?? []).map(String).join(', ');
    case 'union':
      return (def.options ?? []).map(allowedValues).join(def.options?.every((o) => defOf(o).type === 'literal') ? ' or ' : ', or ');
    case 'array': {
      const min = (def.checks ?? []).map((c) => c._zod.def).find((c) => c.check === 'min_length')?.minimum;
      return min ? `a list of strings (at least ${min})` : 'a list of strings';
    }
    case 'record':
      return 'a mapping of names to strings';
    case 'object':
      return 'a section';
    default:
      return def.type;
  }
}

/** Levenshtein distance, to suggest the key a misspelt one was meant to be. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

/** The known key of the section at `path` closest to `key`, if close enough to be a typo. */
export function closestKey(path: readonly (string | number)[], key: string): string | undefined {
  const keys = Object.keys((path.length ? sectionKeys(fieldAt(path) ?? configDocumentSchema) : sectionKeys(configDocumentSchema)) ?? {});
  let best: { key: string; score: number } | undefined;
  for (const known of keys) {
    const score = known.toLowerCase() === key.toLowerCase() ? 0 : distance(known.toLowerCase(), key.toLowerCase());
    if (score <= Math.max(2, Math.floor(known.length / 4)) && (!best || score < best.score)) best = { key: known, score };
  }
  return best?.key;
}
