import YAML from 'yaml';
import type { z } from 'zod';
import { configDocumentSchema } from './config-schema.js';
import { ENV_PREFIX } from './env-overrides.js';
import { allowedValues, describeField, sectionKeys } from './schema-fields.js';

/** Where the generated example lives, relative to the repository root. */
export const EXAMPLE_CONFIG_PATH = 'docs/config.example.yaml';
export const EXAMPLE_CONFIG_COMMAND = 'npm run config:example';

const HEADER = `# App Mesh TS configuration: every key, its default and its meaning.
#
# The daemon reads <home>/config/config.yaml ($APPMESH_HOME, default ~/.appmesh). Every key is
# optional: a missing one takes the default shown here. An unknown key, or a value outside what
# a key allows, stops the start with a message naming it. Each key can be overridden from the
# environment with ${ENV_PREFIX}<path joined by _>, e.g. ${ENV_PREFIX}REST_RestListenPort=6061.
#
# Generated from src/config/config-schema.ts by \`${EXAMPLE_CONFIG_COMMAND}\`: do not edit by hand.
`;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** `key: value` on one line (lists in flow style), as YAML writes it. */
function keyValue(key: string, value: unknown): string {
  return `${key}: ${YAML.stringify(value, { collectionStyle: 'flow', lineWidth: 0 }).trimEnd()}`;
}

function render(schema: z.core.$ZodType, value: Record<string, unknown>, path: string[], out: string[]): void {
  const keys = sectionKeys(schema) ?? {};
  const indent = '  '.repeat(path.length);
  for (const [index, [key, field]] of Object.entries(keys).entries()) {
    const childPath = [...path, key];
    const child = sectionKeys(field);
    if (index > 0 || path.length === 0) out.push('');
    if (child) {
      out.push(`${indent}${key}:`);
      render(field, value[key] as Record<string, unknown>, childPath, out);
      continue;
    }
    for (const line of wrap(describeField(field), 96 - indent.length)) out.push(`${indent}# ${line}`);
    // Environment overrides reach existing keys only: for a mapping, each of its names.
    const variable = `${ENV_PREFIX}${childPath.join('_')}${allowedValues(field).startsWith('a mapping') ? '_<name> (names present in the file)' : ''}`;
    out.push(`${indent}# Allowed: ${allowedValues(field)}. Environment: ${variable}`);
    out.push(`${indent}${keyValue(key, value[key])}`);
  }
}

/** The example configuration: the schema's defaults, each key with its description and range. */
export function renderExampleConfig(): string {
  const defaults = configDocumentSchema.parse({}) as Record<string, unknown>;
  const out: string[] = [HEADER.trimEnd()];
  render(configDocumentSchema, defaults, [], out);
  return `${out.join('\n')}\n`;
}
