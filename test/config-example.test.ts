import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, test } from 'vitest';
import { configDocumentSchema } from '../src/config/config-schema.js';
import { EXAMPLE_CONFIG_COMMAND, EXAMPLE_CONFIG_PATH, renderExampleConfig } from '../src/config/example-config.js';
import { describeField, sectionKeys } from '../src/config/schema-fields.js';

// The example configuration is generated from the schema; this keeps the committed copy current.
const committed = () => readFile(join(import.meta.dirname, '..', EXAMPLE_CONFIG_PATH), 'utf8');

function leafKeys(schema = configDocumentSchema as Parameters<typeof sectionKeys>[0], path: string[] = []): Array<{ path: string; description: string }> {
  return Object.entries(sectionKeys(schema) ?? {}).flatMap(([key, field]) =>
    sectionKeys(field) ? leafKeys(field, [...path, key]) : [{ path: [...path, key].join('.'), description: describeField(field) }],
  );
}

describe(`${EXAMPLE_CONFIG_PATH}`, () => {
  test('is what the schema generates', async () => {
    const expected = renderExampleConfig();
    const actual = await committed().catch(() => '');
    if (actual !== expected) expect.fail(`${EXAMPLE_CONFIG_PATH} is stale: run \`${EXAMPLE_CONFIG_COMMAND}\` and commit the result`);
  });

  test('every key of the schema says what it does', () => {
    const undocumented = leafKeys().filter((key) => key.description.trim() === '').map((key) => key.path);
    expect(undocumented).toEqual([]);
  });

  test('read as a config file, it is exactly the defaults, every key present', async () => {
    const parsed = YAML.parse(renderExampleConfig()) as unknown;
    expect(configDocumentSchema.parse(parsed)).toEqual(configDocumentSchema.parse({}));
    const text = renderExampleConfig();
    for (const key of leafKeys()) expect(text).toContain(`${key.path.split('.').at(-1)}:`);
  });
});
