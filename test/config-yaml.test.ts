// The configuration file as the daemon writes it and reads it back without the YAML library: what
// it writes is YAML that the library reads the same, and what it reads directly it reads as the
// library does; anything else is left to the library.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, test } from 'vitest';
import { loadConfig, saveConfig } from '../src/config/config-file.js';
import { configDocumentSchema } from '../src/config/config-schema.js';
import { configYaml, readConfigYaml } from '../src/config/config-yaml.js';

const TRICKY_STRINGS = [
  '', ' ', 'plain words', 'true', 'True', 'false', 'null', 'Null', '~', 'yes', 'no', 'on', 'off', 'y', 'n',
  '6060', '0x10', '1e3', '-1', '.inf', '.nan', '2001-12-14', 'a: b', 'a #b', '#c', '- item', '[x]', '{x}', '*alias', '&anchor',
  '!tag', '%d', '@at', '`tick`', "it's", 'say "hi"', 'back\\slash', 'tab\there', 'line\nbreak', 'cr\rhere', ' lead', 'trail ',
  'é ü 漢字 🙂', '\u007f', '\u0085', '\u2028', '\ufeff', '\ud800', 'a  b', 'key:', '/path/to/file', 'http://host:6060/x', '---', '...',
];

const EDGE_NUMBERS = [0, -0, 1, -1, 1.5, 1e21, 1e-7, 2 ** 53, 6060, 0.1 + 0.2];

describe('the configuration file', () => {
  test('the default document is written as YAML the library reads the same, and read back without it', () => {
    const doc = configDocumentSchema.parse({});
    const text = configYaml(doc);
    expect(YAML.parse(text)).toEqual(doc);
    expect(readConfigYaml(text)).toEqual(doc);
  });

  test('strings, numbers, lists and maps of every kind: the library reads what was written; the direct reader reads it the same or leaves it', () => {
    const values: unknown[] = [...TRICKY_STRINGS, ...EDGE_NUMBERS, true, false, [], ['a', 'b c', 'true', '1'], [1, 'x', true, null], [{ a: 1 }], {}, { 'my-label': 'x', 'with space': 'y' }, { a: { b: { c: 'deepest' } } }];
    let readDirectly = 0;
    for (const value of values) {
      const text = configYaml({ Section: { Key: value } });
      // -0 reads back as 0 (JSON has no negative zero): compared as JSON does.
      const expected: unknown = JSON.parse(JSON.stringify({ Section: { Key: value } }));
      expect(JSON.parse(JSON.stringify(YAML.parse(text))), text).toEqual(expected);
      const direct = readConfigYaml(text);
      if (direct === undefined) continue;
      readDirectly++;
      expect(JSON.parse(JSON.stringify(direct)), text).toEqual(expected);
    }
    // Its own form is the common case: read directly but for a few.
    expect(readDirectly).toBeGreaterThan(values.length - 10);
  });

  test('text of other forms is left to the library', () => {
    const others = [
      'A: 1 # a comment',
      '# a comment\nA: 1',
      'A: 1\n\nB: 2',
      'A:\n  B: 1\n C: 2',
      'A:\n    B: 1',
      'A:',
      'A: 1\nA: 2',
      'A: yes',
      'A: True',
      'A: ~',
      'A: Null',
      'A: 1.0',
      'A: -0',
      'A: "plain"',
      'A: {"b":1,"b":2}',
      'A: {"__proto__":{"admin":true}}',
      '__proto__:\n  A: 1',
      'null: 1',
      'yes: 1',
      "A: 'single'",
      'A: "unterminated',
      'A: "x" trailing',
      'A: [1, {"b": 2}]',
      'A: {"b": 1, "b": 2}',
      'A: 007',
      'A: +1',
      'A: 1 ',
      'A:  1',
      'A: &x 1\nB: *x',
      '---\nA: 1',
      'A:\r\n  B: 1',
      '\ufeffA: 1',
      'A:\tB',
      '- 1\n- 2',
      'A: |\n  text',
      '"A": 1',
    ];
    for (const text of others) expect(readConfigYaml(text), JSON.stringify(text)).toBeUndefined();
  });

  test('a daemon saves it and loads it back; a file edited by hand with comments still loads', async () => {
    const home = await mkdtemp(join(tmpdir(), 'appmesh-config-yaml-'));
    try {
      const stored = configDocumentSchema.parse({ BaseConfig: { Description: 'a "quoted" host: #1' }, Labels: { 'rack-id': 'r 7', zone: 'true' } });
      await saveConfig(home, stored);
      const written = await readFile(join(home, 'config', 'config.yaml'), 'utf8');
      expect(YAML.parse(written)).toEqual(stored);
      expect((await loadConfig(home, {})).stored).toEqual(stored);

      await writeFile(join(home, 'config', 'config.yaml'), `# edited by hand\n${written.replace('LogLevel: INFO', "LogLevel: 'DEBUG' # louder")}`);
      const edited = await loadConfig(home, {});
      expect(edited.stored.BaseConfig.LogLevel).toBe('DEBUG');
      expect(edited.stored.Labels).toEqual({ 'rack-id': 'r 7', zone: 'true' });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
