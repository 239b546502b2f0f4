import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { warmUpSession } from '../tools/mcp-session.js';
import { mcpClient, ok } from './helpers/mcp-client.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * Once the MCP SDK is loaded, the daemon opens a session with itself in memory, so that a
 * client's first session does not pay for first-time work. It is nobody's session: it takes no
 * share, starts nothing, and leaves nothing behind.
 */
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
  expect((await d.request('POST', '/appmesh/config', { body: { Limits: { MaxMcpSessionsPerUser: 1 } } })).status).toBe(200);
});
afterAll(async () => {
  await d?.stop();
});

const appNames = async () => ((await (await d.request('GET', '/appmesh/applications')).json()) as { name: string }[]).map((app) => app.name).sort();

test('a warm-up session takes no share of its user and leaves no app behind', async () => {
  const before = await appNames();
  // Twice more, the second one while a client's session is open.
  await warmUpSession(d.daemon.core);
  const client = await mcpClient(d.url, d.token);
  try {
    await warmUpSession(d.daemon.core);
    expect((await ok<{ name: string }>(client, 'get_current_user')).name).toBe('admin');
    // The one session admin may hold is the client's: a second one is refused.
    await expect(mcpClient(d.url, d.token)).rejects.toThrow(/MaxMcpSessionsPerUser/);
  } finally {
    await (client.transport as StreamableHTTPClientTransport | undefined)?.terminateSession();
    await client.close();
  }
  expect(await appNames()).toEqual(before);
  const again = await mcpClient(d.url, d.token);
  expect((await again.listTools()).tools.length).toBeGreaterThan(10);
  await again.close();
});
