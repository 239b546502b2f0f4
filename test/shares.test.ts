import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, mcpClient, ok } from './helpers/mcp-client.js';
import { Device } from './helpers/mqtt-device.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * Fair shares: user A fills its cap and gets 429 naming the limit; user B keeps working.
 * The caps are set low by admin through the configuration.
 */

const PASSWORD = 'Share-Password-1';
const NODE = 'node-s';
const LIMITS = { MaxRunsPerUser: 2, MaxAppsPerUser: 2, MaxMcpSessionsPerUser: 1, MaxSubscriptionsPerUser: 1 };

let d: TestDaemon;
let alice: string;
let bob: string;
const open: Client[] = [];

/** Ends the session on the server too (a plain close leaves it until it idles out). */
async function endSession(client: Client): Promise<void> {
  await (client.transport as StreamableHTTPClientTransport | undefined)?.terminateSession();
  await client.close();
}

const message = async (response: Response) => ((await response.json()) as { message: string }).message;
const runSleep = (token: string) => d.request('POST', '/appmesh/app/run', { token, body: { command: 'sleep 60' } });

beforeAll(async () => {
  d = await startTestDaemon({ env: { APPMESH_MQTT_NodeId: NODE } });
  for (const name of ['alice', 'bob']) {
    expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, group: name, roles: ['manage', 'view', 'shell'] } })).status).toBe(200);
  }
  [alice, bob] = await Promise.all(['alice', 'bob'].map((name) => login(d.url, name, PASSWORD)));
  expect((await d.request('POST', '/appmesh/config', { body: { Limits: LIMITS } })).status).toBe(200);
});
afterAll(async () => {
  await Promise.all(open.map((client) => client.close().catch(() => undefined)));
  await d?.stop();
});

describe('Limits.MaxRunsPerUser', () => {
  test('a user at its cap gets 429 naming the key; another user still runs', async () => {
    const handles: string[] = [];
    for (let i = 0; i < LIMITS.MaxRunsPerUser; i++) {
      const started = await runSleep(alice);
      expect(started.status).toBe(200);
      handles.push(((await started.json()) as { name: string }).name);
    }
    const refused = await runSleep(alice);
    expect(refused.status).toBe(429);
    expect(await message(refused)).toBe('Limits.MaxRunsPerUser (2) reached for user alice');
    const syncRefused = await d.request('POST', '/appmesh/app/syncrun', { token: alice, body: { command: 'true' } });
    expect(syncRefused.status).toBe(429);

    // MCP: the same rule, as an isError result with the same text.
    const aliceMcp = await mcpClient(d.url, alice);
    open.push(aliceMcp);
    const viaMcp = await call(aliceMcp, 'run_command', { command: 'true', yield_ms: 1000 });
    expect(viaMcp.isError).toBe(true);
    expect(viaMcp.content[0].text).toContain('Limits.MaxRunsPerUser (2) reached for user alice');
    await endSession(aliceMcp);

    const other = await d.request('POST', '/appmesh/app/syncrun', { token: bob, body: { command: 'echo bob-ran' } });
    expect(other.status).toBe(200);
    expect(await other.text()).toBe('bob-ran\n');

    // Many at once cannot slip past the cap together.
    await d.request('DELETE', `/appmesh/app/${handles.pop()}`, { token: alice });
    const burst = await Promise.all(Array.from({ length: 6 }, () => runSleep(alice)));
    expect(burst.map((response) => response.status).sort()).toEqual([200, 429, 429, 429, 429, 429]);
    handles.push(((await burst.find((response) => response.status === 200)!.json()) as { name: string }).name);

    // A finished run frees its place.
    for (const handle of handles) expect((await d.request('DELETE', `/appmesh/app/${handle}`, { token: alice })).status).toBe(200);
    expect((await d.request('POST', '/appmesh/app/syncrun', { token: alice, body: { command: 'true' } })).status).toBe(200);
  });
});

describe('Limits.MaxAppsPerUser', () => {
  test('a user at its cap gets 429 for a new app, may still replace its own; another user still registers', async () => {
    for (const name of ['a1', 'a2']) expect((await d.request('PUT', `/appmesh/app/${name}`, { token: alice, body: { command: 'sleep 60', status: 0 } })).status).toBe(200);
    const refused = await d.request('PUT', '/appmesh/app/a3', { token: alice, body: { command: 'sleep 60', status: 0 } });
    expect(refused.status).toBe(429);
    expect(await message(refused)).toBe('Limits.MaxAppsPerUser (2) reached for user alice');
    expect((await d.request('GET', '/appmesh/app/a3')).status).toBe(404);
    expect((await d.request('PUT', '/appmesh/app/a1', { token: alice, body: { command: 'sleep 30', status: 0 } })).status).toBe(200);

    const aliceMcp = await mcpClient(d.url, alice);
    open.push(aliceMcp);
    const viaMcp = await call(aliceMcp, 'add_app', { app: { name: 'a3', command: 'sleep 60', status: 0 } });
    expect(viaMcp.isError).toBe(true);
    expect(viaMcp.content[0].text).toContain('Limits.MaxAppsPerUser (2) reached for user alice');
    await endSession(aliceMcp);

    expect((await d.request('PUT', '/appmesh/app/b1', { token: bob, body: { command: 'sleep 60', status: 0 } })).status).toBe(200);
    for (const name of ['a1', 'a2']) await d.request('DELETE', `/appmesh/app/${name}`, { token: alice });
    await d.request('DELETE', '/appmesh/app/b1', { token: bob });
  });
});

describe('Limits.MaxMcpSessionsPerUser', () => {
  test('a user at its cap cannot open another session (429, JSON-RPC error); another user can', async () => {
    const first = await mcpClient(d.url, alice);
    open.push(first);
    const refused = await fetch(`${d.url}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: 'Limits.MaxMcpSessionsPerUser (1) reached for user alice' }, id: null });
    await expect(mcpClient(d.url, alice)).rejects.toThrow(/MaxMcpSessionsPerUser/);

    const other = await mcpClient(d.url, bob);
    open.push(other);
    expect((await ok<{ name: string }>(other, 'get_current_user')).name).toBe('bob');
    // The open session keeps working; closing it frees the place.
    expect((await ok<{ name: string }>(first, 'get_current_user')).name).toBe('alice');
    await endSession(first);
    const again = await mcpClient(d.url, alice);
    await endSession(again);
  });
});

describe('Limits.MaxSubscriptionsPerUser', () => {
  test('a user at its cap gets a 429 reply over MQTT; another user still subscribes', async () => {
    expect((await d.request('PUT', '/appmesh/app/watched', { body: { command: 'sleep 60', status: 0, permission: 22 } })).status).toBe(200);
    const url = d.daemon.mqtt!.url;
    const a = await Device.connect(url, 'alice', { username: 'alice', password: PASSWORD });
    const b = await Device.connect(url, 'bob', { username: 'bob', password: PASSWORD });
    try {
      const subscribe = (device: Device, token: string) => device.call(NODE, { http_method: 'POST', request_uri: '/appmesh/app/watched/subscribe?events=START' }, token);
      expect((await subscribe(a, alice)).http_status).toBe(200);
      const refused = await subscribe(a, alice);
      expect(refused.http_status).toBe(429);
      expect((refused.body as { message: string }).message).toBe('Limits.MaxSubscriptionsPerUser (1) reached for user alice');
      const all = await a.call(NODE, { http_method: 'POST', request_uri: '/appmesh/subscribe?events=START' }, alice);
      expect(all.http_status).toBe(429);
      expect((await subscribe(b, bob)).http_status).toBe(200);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
