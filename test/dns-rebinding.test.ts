import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { rawRequest } from './helpers/raw-http.js';

// A page on a name the attacker controls, which resolves to this machine (DNS rebinding), talks to
// the daemon with the attacker's Host and, being same-origin for the browser, a matching Origin.

let d: TestDaemon;
let port: string;
beforeAll(async () => {
  d = await startTestDaemon();
  port = new URL(d.url).port;
  await d.request('PUT', '/appmesh/user/mallory', { body: { key: 'Mallory-Pass-1', group: 'people', roles: ['view', 'manage'] } });
});
afterAll(async () => {
  await d.stop();
});

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'rebinding-page', version: '1' } },
});

function initialize(headers: Record<string, string>) {
  return rawRequest(`${d.url}/mcp`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
    body: INITIALIZE,
  });
}

describe('Host and Origin allow-list on /mcp', () => {
  test('a foreign Host with its own matching Origin is refused', async () => {
    const response = await initialize({ Host: `evil.example.com:${port}`, Origin: `http://evil.example.com:${port}` });
    expect(response.status).toBe(403);
    expect(JSON.parse(response.body).message).toMatch(/host/i);
  });

  test('a foreign Host without any Origin is refused', async () => {
    expect((await initialize({ Host: 'evil.example.com' })).status).toBe(403);
  });

  test('a foreign Origin on an allowed Host is refused', async () => {
    expect((await initialize({ Host: `127.0.0.1:${port}`, Origin: 'http://evil.example.com' })).status).toBe(403);
  });

  test('loopback names with their own Origin are served', async () => {
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`]) {
      const response = await initialize({ Host: host, Origin: `http://${host}` });
      expect(response.status, host).toBe(200);
    }
    expect((await initialize({ Host: `127.0.0.1:${port}` })).status).toBe(200);
  });

  test('/mcp answers without the open CORS headers of the REST API', async () => {
    const response = await initialize({ Host: `127.0.0.1:${port}` });
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('Host allow-list on the OAuth bridge', () => {
  test('metadata, registration and the login page refuse a foreign Host', async () => {
    const headers = { Host: `evil.example.com:${port}` };
    const metadata = await rawRequest(`${d.url}/.well-known/oauth-authorization-server`, { headers });
    expect(metadata.status).toBe(403);
    expect(metadata.body).not.toContain('token_endpoint');
    expect((await rawRequest(`${d.url}/.well-known/oauth-protected-resource`, { headers })).status).toBe(403);
    const register = await rawRequest(`${d.url}/register`, {
      method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://127.0.0.1:1/cb'] }),
    });
    expect(register.status).toBe(403);
    expect((await rawRequest(`${d.url}/login?txn_id=x`, { headers })).status).toBe(403);
    expect((await rawRequest(`${d.url}/authorize?client_id=x`, { headers })).status).toBe(403);
  });

  test('the sign-in form refuses a post from another site', async () => {
    const response = await rawRequest(`${d.url}/login`, {
      method: 'POST', headers: { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example.com', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'txn_id=x&username=admin&password=x',
    });
    expect(response.status).toBe(403);
  });

  test('CORS is open on metadata and token endpoints only, not on the login page', async () => {
    const metadata = await rawRequest(`${d.url}/.well-known/oauth-authorization-server`, { headers: { Origin: 'http://localhost:6274' } });
    expect(metadata.status).toBe(200);
    expect(metadata.headers['access-control-allow-origin']).toBe('*');
    const token = await rawRequest(`${d.url}/token`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: 'http://localhost:6274' }, body: 'grant_type=nope' });
    expect(token.status).toBe(400);
    expect(token.headers['access-control-allow-origin']).toBe('*');
    const page = await rawRequest(`${d.url}/login?txn_id=x`);
    expect(page.headers['access-control-allow-origin']).toBeUndefined();
    const authorize = await rawRequest(`${d.url}/authorize?client_id=x`);
    expect(authorize.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('REST.AllowedHosts', () => {
  test('a configured name is served; only admin may configure it', async () => {
    const headers = { Host: `mcp.example.org:${port}`, Origin: `https://mcp.example.org:${port}` };
    expect((await initialize(headers)).status).toBe(403);
    const mallory = await login(d.url, 'mallory', 'Mallory-Pass-1');
    const denied = await d.request('POST', '/appmesh/config', { token: mallory, body: { REST: { AllowedHosts: ['evil.example.com'] } } });
    expect(denied.status).toBe(400);
    expect(((await denied.json()) as { message: string }).message).toBe('Only admin may change REST.AllowedHosts');
    const set = await d.request('POST', '/appmesh/config', { body: { REST: { AllowedHosts: ['mcp.example.org'] } } });
    expect(set.status).toBe(200);
    expect((await initialize(headers)).status).toBe(200);
    const metadata = await rawRequest(`${d.url}/.well-known/oauth-authorization-server`, { headers: { Host: `mcp.example.org:${port}` } });
    expect(metadata.status).toBe(200);
    expect((await initialize({ Host: `evil.example.com:${port}` })).status).toBe(403);
  });
});
