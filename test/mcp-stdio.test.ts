import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, newHome, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { ok } from './helpers/mcp-client.js';

// The built stdio entry (`appmesh-mcp`), as an MCP client launches it (`npm test` builds first).
const STDIO = join(import.meta.dirname, '..', 'dist', 'tools', 'stdio.js');

async function stdioClient(env: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'appmesh-stdio-test', version: '1.0.0' });
  const base = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('APPMESH_')));
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [STDIO], env: { ...base, ...env }, stderr: 'ignore' }));
  return client;
}

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

describe('MCP over stdio', () => {
  test('relays to a daemon with a token from the environment', async () => {
    const client = await stdioClient({ APPMESH_URL: d.url, APPMESH_TOKEN: d.token });
    const names = (await client.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('run_app_sync');
    expect(names).toContain('run_command');
    expect(await ok(client, 'run_app_sync', { command: 'echo hi' })).toEqual({ exit_code: 0, output: 'hi\n' });
    await client.close();
  });

  test('serves in-process when pointed at a home', async () => {
    const home = await newHome();
    const client = await stdioClient({ APPMESH_HOME: home, APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, APPMESH_PASSWORD: ADMIN_PASSWORD });
    expect(await ok(client, 'run_app_sync', { command: 'echo local' })).toEqual({ exit_code: 0, output: 'local\n' });
    expect(((await ok<{ name: string }>(client, 'get_current_user')).name)).toBe('admin');
    await client.close();
    await rm(home, { recursive: true, force: true });
  });
});
