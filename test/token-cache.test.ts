import { createHmac, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mcpClient } from './helpers/mcp-client.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// A token that was verified once is not verified again from scratch: the signature check is
// remembered. What can change after issue (revocation, the user's lock, password, existence,
// and the token's own expiry) must still end it at its very next use, on every face.

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const PASSWORD = 'Cache-Password-1';
const b64 = (text: string) => Buffer.from(text).toString('base64');
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const status = async (token: string) => (await d.request('GET', '/appmesh/applications', { token })).status;

async function addUser(name: string): Promise<void> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, group: 'team', roles: ['view', 'shell'] } })).status).toBe(200);
}

/** Logged in and used a few times, so its verification is surely remembered. */
async function warmToken(name: string): Promise<string> {
  const token = await login(d.url, name, PASSWORD);
  for (let i = 0; i < 3; i++) expect(await status(token)).toBe(200);
  return token;
}

/** An MCP call's HTTP status with the given token (the session is opened with the same token). */
async function mcpStatus(token: string): Promise<number> {
  const response = await fetch(new URL('/mcp', d.url), {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
  });
  await response.body?.cancel();
  return response.status;
}

describe('a remembered token still ends at once', () => {
  test('after logoff: REST and MCP refuse it on the next request', async () => {
    await addUser('cache-logoff');
    const token = await warmToken('cache-logoff');
    expect(await mcpStatus(token)).toBe(200);
    expect((await d.request('POST', '/appmesh/self/logoff', { token })).status).toBe(200);
    expect(await status(token)).toBe(401);
    expect(await mcpStatus(token)).toBe(401);
    expect((await d.request('POST', '/appmesh/auth', { token })).status).toBe(401);
  });

  test('after a lock: refused at once, and still after the unlock', async () => {
    await addUser('cache-lock');
    const token = await warmToken('cache-lock');
    expect((await d.request('POST', '/appmesh/user/cache-lock/lock')).status).toBe(200);
    expect(await status(token)).toBe(401);
    expect(await mcpStatus(token)).toBe(401);
    expect((await d.request('POST', '/appmesh/user/cache-lock/unlock')).status).toBe(200);
    expect(await status(token)).toBe(401);
  });

  test('after a password change: every earlier token of the user is refused at once', async () => {
    await addUser('cache-passwd');
    const token = await warmToken('cache-passwd');
    const other = await warmToken('cache-passwd');
    const body = { old_password: b64(PASSWORD), new_password: b64('Cache-Password-2') };
    expect((await d.request('POST', '/appmesh/user/self/passwd', { token, body })).status).toBe(200);
    expect(await status(token)).toBe(401);
    expect(await status(other)).toBe(401);
    expect(await mcpStatus(other)).toBe(401);
  });

  test('after the user is deleted, and when a user of the same name is created again', async () => {
    await addUser('cache-deleted');
    const token = await warmToken('cache-deleted');
    expect((await d.request('DELETE', '/appmesh/user/cache-deleted')).status).toBe(200);
    expect(await status(token)).toBe(401);
    await addUser('cache-deleted');
    expect(await status(token)).toBe(401);
    expect(await mcpStatus(token)).toBe(401);
  });

  test('an MCP session opened with a token stops working when that token is logged off', async () => {
    await addUser('cache-session');
    const token = await warmToken('cache-session');
    const client = await mcpClient(d.url, token);
    try {
      expect((await client.listTools()).tools.length).toBeGreaterThan(0);
      expect((await d.request('POST', '/appmesh/self/logoff', { token })).status).toBe(200);
      await expect(client.listTools()).rejects.toThrow();
    } finally {
      await client.close().catch(() => undefined);
    }
  });
});

describe('what the remembered verification covers', () => {
  test('a token remembered for the MCP audience is still refused by the REST API', async () => {
    await addUser('cache-mcp');
    const response = await d.request('POST', '/appmesh/login', {
      token: null,
      headers: { Authorization: `Basic ${b64(`cache-mcp:${PASSWORD}`)}`, 'X-Audience': 'appmesh-mcp' },
    });
    expect(response.status).toBe(200);
    const mcpToken = ((await response.json()) as { access_token: string }).access_token;
    expect(await mcpStatus(mcpToken)).toBe(200);
    expect(await mcpStatus(mcpToken)).toBe(200);
    expect(await status(mcpToken)).toBe(401);
  });

  test('a token that expires while remembered is refused once expired (with the few seconds of leeway)', async () => {
    await addUser('cache-expiry');
    const real = await login(d.url, 'cache-expiry', PASSWORD);
    const secret = (parse(await readFile(join(d.home, 'config', 'config.yaml'), 'utf8')) as { REST: { JWT: { JWTSalt: string } } }).REST.JWT.JWTSalt;
    const claims = JSON.parse(Buffer.from(real.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
    // Expired 4 s ago: within the 5 s leeway for about one more second.
    const nowS = Math.floor(Date.now() / 1000);
    const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ ...claims, jti: randomBytes(12).toString('base64url'), exp: nowS - 4 })}`;
    const token = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    expect(await status(token)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const response = await d.request('GET', '/appmesh/applications', { token });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ message: 'Token has expired' });
  });

  test('a token with one changed byte of its signature is refused, after the real one was remembered', async () => {
    await addUser('cache-tamper');
    const token = await warmToken('cache-tamper');
    const signature = token.split('.')[2];
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
    expect(await status(`${token.split('.').slice(0, 2).join('.')}.${flipped}`)).toBe(401);
    expect(await status(token)).toBe(200);
  });
});
