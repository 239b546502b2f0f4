import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { flatYaml } from '../src/store/flat-yaml.js';

/** The stored app files are written without a YAML library: every value must read back as it was. */
describe('flat YAML of app definitions', () => {
  const tricky = [
    'sleep 1000', 'python3 -m http.server 8000', '/usr/bin/env', 'a=b', 'x@y', 'ls -l', '', ' ', ' leading', 'trailing ', 'two  spaces',
    'true', 'False', 'yes', 'NO', 'on', 'off', 'y', 'N', 'null', 'Null', '~', '.inf', '-.inf', '.nan', '123', '0x1F', '1e3', '-1', '+1', '0o17', '1:20',
    'key: value', 'a #comment', '#start', '- item', '? q', '!tag', '&anchor', '*alias', '|', '>', '%directive', '@at', '`tick`', '"quoted"', "'single'",
    '{not: flow}', '[not, list]', 'line\nbreak', 'tab\there', 'cr\rhere', 'nul\u0000', 'del\u007f', 'c1\u0085\u0090', 'ls\u2028sep', 'bom\ufeff', 'end\uffff',
    'héllo wörld', '日本語', '😀 emoji', '\ud800 lone', 'back\\slash', 'a: "b"', '---', '...', '<<', '=', '---x',
  ];

  test('strings of every kind read back unchanged, plain where that is safe', () => {
    for (const value of tricky) {
      const text = flatYaml({ command: value, description: value });
      expect(parse(text), JSON.stringify(value)).toEqual({ command: value, description: value });
    }
    expect(flatYaml({ command: 'sleep 1000' })).toBe('command: sleep 1000\n');
  });

  test('a whole definition with maps, numbers, booleans and free metadata reads back equal', () => {
    const definition = {
      name: 'web-1', command: 'python3 -m http.server', shell: true, status: 1, owner: 'alice', permission: 22, register_time: 1_796_000_000,
      env: { PATH: '/bin:/usr/bin', 'WEIRD-KEY': 'a: b # c', EMPTY: '' }, sec_env: { TOKEN: 'enc:v1:abc/def+ghi==' },
      behavior: { exit: 'restart', control: { '0': 'standby', '-1': 'remove' } }, resource_limit: { memory_mb: 64, cpu_shares: 512 },
      daily_limitation: { daily_start: 3600, daily_end: 7200 }, start_interval_seconds: '0 */5 * * * *', cron: true, labels: { team: 'a', 'app.kubernetes.io/name': 'x' },
      metadata: { nested: [1, 'two', { three: null }, true], text: 'line\nbreak' }, retention: 30,
    };
    expect(parse(flatYaml(definition))).toEqual(definition);
    for (const metadata of ['plain words', 'yes', '42', 42, 4.5, -0.25, false, null, [], {}, ['a', 1], 'x'.repeat(5000)]) {
      expect(parse(flatYaml({ metadata })), JSON.stringify(metadata).slice(0, 40)).toEqual({ metadata });
    }
  });

  test('keys that are not plain are refused, never written', () => {
    expect(() => flatYaml({ 'bad key': 1 })).toThrow(/not a plain key/);
    expect(() => flatYaml({ 'a:b': 1 })).toThrow(/not a plain key/);
  });
});
