/**
 * A flat mapping written as YAML without a YAML library: one `key: value` line per entry, values
 * plain when they cannot be read back as anything else, otherwise JSON (YAML 1.2 reads JSON as
 * its flow style: quoted strings, `{...}`, `[...]`). An app definition is written this way at
 * every change, ten times faster than a general YAML writer, and stays readable and valid YAML.
 */

/** Words of letters, digits and `_./@+=-`, separated by single spaces, starting with a letter, `_` or `/`. */
export const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./@+=-]*(?: [A-Za-z0-9_./@+=-]+)*$/;
/** Plain words a YAML reader takes for a boolean or null (YAML 1.1 readers included). */
export const KEYWORD = /^(?:true|false|null|yes|no|on|off|y|n)$/i;
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Characters JSON leaves as they are but a YAML stream must not hold raw (DEL, C1 controls, U+FFFE/F). */
const NOT_PRINTABLE = /[\u007f-\u009f\ufffe\uffff]/g;

export function flatYaml(mapping: Readonly<Record<string, unknown>>): string {
  let text = '';
  for (const [key, value] of Object.entries(mapping)) {
    if (value === undefined) continue;
    if (!KEY.test(key)) throw new Error(`not a plain key: ${key.slice(0, 64)}`);
    text += `${key}: ${scalarOrJson(value)}\n`;
  }
  return text;
}

/** A value as one line of YAML: plain words where they read back as the same string, else JSON (flow style). */
export function scalarOrJson(value: unknown): string {
  if (typeof value === 'string' && PLAIN.test(value) && !KEYWORD.test(value)) return value;
  const json = JSON.stringify(value);
  if (json === undefined) throw new Error(`cannot be written: ${typeof value}`);
  return json.replace(NOT_PRINTABLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
