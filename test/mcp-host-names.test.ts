import { afterAll, beforeAll, expect, test } from 'vitest';
import { rawRequest } from './helpers/raw-http.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/** The names /mcp answers to follow REST.AllowedHosts from the next request on, both ways. */
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const initialize = (host: string) =>
  rawRequest(`${d.url}/mcp`, {
    method: 'POST',
    headers: { Host: `${host}:${new URL(d.url).port}`, Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });
const allow = async (hosts: string[]) => expect((await d.request('POST', '/appmesh/config', { body: { REST: { AllowedHosts: hosts } } })).status).toBe(200);

test('a name added is served at once, and refused at once once removed', async () => {
  expect((await initialize('one.example.org')).status).toBe(403);
  await allow(['one.example.org']);
  expect((await initialize('one.example.org')).status).toBe(200);
  await allow(['two.example.org']);
  expect((await initialize('one.example.org')).status).toBe(403);
  expect((await initialize('two.example.org')).status).toBe(200);
  await allow([]);
  expect((await initialize('two.example.org')).status).toBe(403);
  expect((await initialize('localhost')).status).toBe(200);
});
