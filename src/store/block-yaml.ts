import { KEYWORD, PLAIN, scalarOrJson } from './flat-yaml.js';

/**
 * The daemon's own YAML files (configuration, users and roles, app definitions) without the YAML
 * library, where that is safe. Written: mappings in block style, every other value on its line as
 * `flatYaml` writes it (plain words, or JSON, which YAML reads as its flow style): valid YAML, as
 * readable, at a fraction of the cost of a general writer. Read: a line is taken only when it is
 * exactly what the writer makes of the key and value it reads as, so every file read directly is
 * one the writer could have written, which the library reads the same; anything else (comments,
 * YAML's own quotes, anchors, block lists, hand-made spacing...) goes to the library, loaded then.
 */
export function blockYaml(doc: Readonly<Record<string, unknown>>): string {
  return mappingLines(doc, '');
}

function mappingLines(mapping: Readonly<Record<string, unknown>>, indent: string): string {
  let text = '';
  for (const [key, value] of Object.entries(mapping)) {
    if (value === undefined) continue;
    const name = keyText(key);
    // YAML bounds an implicit key: a longer one is written as an explicit key (which only the library reads).
    if (name.length > MAX_KEY_LENGTH) text += `${indent}? ${name}\n${indent}: ${scalarOrJson(value)}\n`;
    else if (isNonEmptyMapping(value)) text += `${indent}${name}:\n${mappingLines(value, `${indent}  `)}`;
    else text += `${indent}${name}: ${scalarOrJson(value)}\n`;
  }
  return text;
}

/** A key as written: a bare word when YAML reads it as that string, else plain words or JSON. */
function keyText(key: string): string {
  return SIMPLE_KEY.test(key) && !KEYWORD.test(key) ? key : scalarOrJson(key);
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** YAML's bound on an implicit key (the library refuses a longer one). */
const MAX_KEY_LENGTH = 1024;
/**
 * What the direct reader leaves to the library: raw tabs, carriage returns, control characters,
 * byte-order marks and line separators, which YAML readers give meanings of their own; and
 * `__proto__`, which would change an object's prototype instead of naming a key.
 */
const LEFT_TO_THE_LIBRARY = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]|__proto__/;

/** The document of a text in the form `blockYaml` (or `flatYaml`) writes; undefined for any other text. */
export function readBlockYaml(text: string): Record<string, unknown> | undefined {
  if (text === '' || LEFT_TO_THE_LIBRARY.test(text)) return undefined;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const root: Record<string, unknown> = {};
  // The mapping open at each depth of indentation.
  const open: Record<string, unknown>[] = [root];
  let awaitingChild = false;
  for (const line of lines) {
    const entry = readLine(line);
    if (!entry) return undefined;
    const { depth, key } = entry;
    // A key without a value opens a mapping, whose first key is one level deeper.
    if (awaitingChild ? depth !== open.length - 1 : depth > open.length - 1) return undefined;
    awaitingChild = false;
    open.length = depth + 1;
    const mapping = open[depth];
    if (Object.hasOwn(mapping, key)) return undefined;
    if (!('value' in entry)) {
      const child: Record<string, unknown> = {};
      mapping[key] = child;
      open.push(child);
      awaitingChild = true;
      continue;
    }
    mapping[key] = entry.value;
  }
  return awaitingChild ? undefined : root;
}

type Line = { depth: number; key: string } | { depth: number; key: string; value: unknown };

/** One `key: value` or `key:` line, when both are exactly as the writer writes them. */
function readLine(line: string): Line | undefined {
  let indent = 0;
  while (line.charCodeAt(indent) === 32) indent++;
  if (indent % 2 !== 0) return undefined;
  const keyEnd = line.charCodeAt(indent) === 34 ? closingQuote(line, indent) + 1 : line.indexOf(':', indent);
  if (keyEnd <= indent || keyEnd - indent > MAX_KEY_LENGTH || line.charCodeAt(keyEnd) !== 58) return undefined;
  const written = line.slice(indent, keyEnd);
  const key = parsed(written);
  if (typeof key !== 'string' || keyText(key) !== written) return undefined;
  const depth = indent / 2;
  if (keyEnd + 1 === line.length) return { depth, key };
  if (line.charCodeAt(keyEnd + 1) !== 32) return undefined;
  const valueText = line.slice(keyEnd + 2);
  const value = parsed(valueText);
  return value === NOT_OURS || scalarOrJson(value) !== valueText ? undefined : { depth, key, value };
}

const NOT_OURS = Symbol('not written by blockYaml');

/** What a key or value reads as, if the writer could have written it (checked by the caller). */
function parsed(text: string): unknown {
  if (PLAIN.test(text) && !KEYWORD.test(text)) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return NOT_OURS;
  }
}

/** Index of the quote closing the JSON string opening at `start`, or -1. */
function closingQuote(line: string, start: number): number {
  for (let i = start + 1; i < line.length; i++) {
    const code = line.charCodeAt(i);
    if (code === 92) i++;
    else if (code === 34) return i;
  }
  return -2;
}

function isNonEmptyMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0;
}

type YamlLibrary = typeof import('yaml');
let library: Promise<YamlLibrary> | undefined;

/** The library is a CommonJS package: its exports are its default export (the bundle gives it no named ones). */
async function loadLibrary(): Promise<YamlLibrary> {
  const loaded = (await import('yaml')) as YamlLibrary & { default?: YamlLibrary };
  return loaded.default ?? loaded;
}

/**
 * A YAML text as data: directly when it is in the daemon's own form, else through the YAML library,
 * loaded at its first use (a daemon that only ever reads its own files never loads it).
 * Throws the library's error for text that is not YAML.
 */
export async function parseYaml(text: string): Promise<unknown> {
  const direct = readBlockYaml(text);
  if (direct !== undefined) return direct;
  const { parse } = await (library ??= loadLibrary());
  return parse(text) as unknown;
}
