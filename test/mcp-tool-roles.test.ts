import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mcpClient } from './helpers/mcp-client.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// A session's tool list follows its user's roles while it lives.
let d: TestDaemon;
let client: Client;

const setRoles = async (roles: string[]) => {
  const response = await d.request('PUT', '/appmesh/user/grower', { body: { key: 'Grower-Password-1', group: 'g', roles } });
  expect(response.status, await response.text()).toBe(200);
};

beforeAll(async () => {
  d = await startTestDaemon();
  await setRoles(['view']);
  client = await mcpClient(d.url, await login(d.url, 'grower', 'Grower-Password-1'));
});
afterAll(async () => {
  await client?.close();
  await d?.stop();
});

describe('tools/list and role changes', () => {
  test('a granted role adds its tools with notifications/tools/list_changed; a withdrawn one takes them away', async () => {
    let changes = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changes++);
    const names = async () => (await client.listTools()).tools.map((tool) => tool.name);
    expect(await names()).not.toContain('run_command');

    await setRoles(['view', 'shell']);
    await waitFor(() => changes > 0, 10_000, 'notifications/tools/list_changed');
    expect(await names()).toContain('run_command');
    expect((await client.callTool({ name: 'run_command', arguments: { command: 'echo granted', yield_ms: 5000 } })).isError).toBeFalsy();

    await setRoles(['view']);
    expect(await names()).not.toContain('run_command');
    const refused = await client.callTool({ name: 'run_command', arguments: { command: 'id' } });
    expect(refused.isError).toBe(true);
    expect(JSON.stringify(refused.content)).toMatch(/app-run-async/);
  }, 30_000);
});
