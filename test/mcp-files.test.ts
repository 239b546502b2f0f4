import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { call, mcpClient, ok } from './helpers/mcp-client.js';

let d: TestDaemon;
let client: Client;
let jail: string;
let outside: string;
beforeAll(async () => {
  jail = await mkdtemp(join(tmpdir(), 'appmesh-mcp-jail-'));
  outside = await mkdtemp(join(tmpdir(), 'appmesh-mcp-outside-'));
  await writeFile(join(outside, 'secret.txt'), 'not for agents');
  await symlink(outside, join(jail, 'escape'));
  await mkdir(join(jail, 'sub'));
  d = await startTestDaemon({ env: { APPMESH_REST_FileAllowedBaseDir: jail } });
  client = await mcpClient(d.url, d.token);
});
afterAll(async () => {
  await client.close();
  await d.stop();
  await rm(jail, { recursive: true, force: true });
  await rm(outside, { recursive: true, force: true });
});

describe('MCP file tools', () => {
  test('write, read (ranges), list and stat inside the allowed folder', async () => {
    const file = join(jail, 'sub', 'notes.txt');
    expect(await ok(client, 'write_file', { path: file, content: 'hello files\n', mode: 416 })).toEqual({ path: file, bytes: 12 });
    expect(await readFile(file, 'utf8')).toBe('hello files\n');
    expect(await ok(client, 'read_file', { path: file, offset: 6, length: 5 })).toEqual({ content: 'files', encoding: 'utf8', size: 12, next_offset: 11, eof: false });
    const refused = await call(client, 'write_file', { path: file, content: 'again' });
    expect(refused.isError).toBe(true);
    await ok(client, 'write_file', { path: file, content: 'replaced', overwrite: true });
    expect(await readFile(file, 'utf8')).toBe('replaced');
    const listing = await ok<{ entries: { name: string; type: string }[] }>(client, 'list_dir', { path: join(jail, 'sub') });
    expect(listing.entries).toEqual([expect.objectContaining({ name: 'notes.txt', type: 'file' })]);
    expect(await ok(client, 'stat_path', { path: file })).toMatchObject({ type: 'file', size: 8, mode: 416 });
    const binary = await ok<{ encoding: string; content: string }>(client, 'write_file', { path: join(jail, 'bin'), content: Buffer.from([0, 1, 2, 255]).toString('base64'), encoding: 'base64' })
      .then(() => ok<{ encoding: string; content: string }>(client, 'read_file', { path: join(jail, 'bin') }));
    expect(binary).toMatchObject({ encoding: 'base64', content: 'AAEC/w==' });
    const resource = await client.readResource({ uri: `appmesh://files${file}` });
    expect((resource.contents[0] as { text: string }).text).toBe('replaced');
  });

  test.each([
    ['a `..` path', (j: string) => `${j}/sub/../../etc/passwd`],
    ['a relative path', () => 'notes.txt'],
    ['a symlink escape', (j: string) => `${j}/escape/secret.txt`],
    ['a path outside the jail', () => '/tmp/anything.txt'],
    ['a system folder', () => '/etc/passwd'],
  ])('refuses %s for read, write, list and stat, and writes nothing', async (_label, target) => {
    const path = target(jail);
    for (const [tool, args] of [
      ['read_file', { path }],
      ['write_file', { path, content: 'x' }],
      ['list_dir', { path }],
      ['stat_path', { path }],
    ] as const) {
      const result = await call(client, tool, args);
      expect(result.isError, `${tool} ${path}`).toBe(true);
      expect(result.content[0].text).toMatch(/Invalid file path/);
    }
    expect(await readdir(outside)).toEqual(['secret.txt']);
    expect(await readFile(join(outside, 'secret.txt'), 'utf8')).toBe('not for agents');
  });
});
