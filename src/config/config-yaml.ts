import { KEYWORD, PLAIN, scalarOrJson } from '../store/flat-yaml.js';

/**
 * The configuration file without the YAML library, where that is safe. Written: nested mappings
 * in block style, every other value on its line as `flatYaml` writes it (plain words, or JSON,
 * which YAML reads as its flow style): valid YAML, as readable, at a fraction of the cost of a
 * general writer. Read: a file in exactly that form is read directly (a daemon reads its own file at
 * every start); anything else (comments, quotes of YAML's own, anchors...) is left to the YAML
 * library, which reads that form the same way.
 */
export function configYaml(doc: Readonly<Record<string, unknown>>): string {
  return mappingLines(doc, '');
}

function mappingLines(mapping: Readonly<Record<string, unknown>>, indent: string): string {
  let text = '';
  for (const [key, value] of Object.entries(mapping)) {
    if (value === undefined) continue;
    const name = SIMPLE_KEY.test(key) ? key : scalarOrJson(key);
    if (isNonEmptyMapping(value)) text += `${indent}${name}:\n${mappingLines(value, `${indent}  `)}`;
    else text += `${indent}${name}: ${scalarOrJson(value)}\n`;
  }
  return text;
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LINE = /^((?: {2})*)([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$/;
const NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
/** What a YAML stream must not hold raw; tabs, carriage returns, a byte-order mark and line separators, which YAML readers give meanings of their own. */
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/;

/** The document of a file in the form `configYaml` writes; undefined for any other text. */
export function readConfigYaml(text: string): Record<string, unknown> | undefined {
  if (UNSAFE.test(text)) return undefined;
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const root: Record<string, unknown> = {};
  // The mapping open at each depth of indentation.
  const open: Record<string, unknown>[] = [root];
  let awaitingChild = false;
  for (const line of lines) {
    const match = LINE.exec(line);
    if (!match) return undefined;
    const depth = match[1].length / 2;
    // A key without a value opens a mapping, whose first key is one level deeper.
    if (awaitingChild ? depth !== open.length - 1 : depth > open.length - 1) return undefined;
    awaitingChild = false;
    open.length = depth + 1;
    const mapping = open[depth];
    const key = match[2];
    if (Object.prototype.hasOwnProperty.call(mapping, key)) return undefined;
    if (match[3] === undefined) {
      const child: Record<string, unknown> = {};
      mapping[key] = child;
      open.push(child);
      awaitingChild = true;
      continue;
    }
    const value = scalar(match[3]);
    if (value === undefined) return undefined;
    mapping[key] = value.value;
  }
  return awaitingChild ? undefined : root;
}

function scalar(text: string): { value: unknown } | undefined {
  if (PLAIN.test(text)) return text === 'true' ? { value: true } : text === 'false' ? { value: false } : KEYWORD.test(text) ? undefined : { value: text };
  if (NUMBER.test(text)) return { value: Number(text) };
  if (text === '{}') return { value: {} };
  if (!text.startsWith('"') && !text.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  // Lists of plain values only: a JSON object may repeat a key, which YAML refuses.
  if (Array.isArray(value) && !value.every((item) => item === null || typeof item !== 'object')) return undefined;
  return { value };
}

function isNonEmptyMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0;
}
