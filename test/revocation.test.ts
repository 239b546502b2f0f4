import { createHmac, randomBytes } from 'node:crypto';
import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Revocation that cannot be flushed: a revoked token stays revoked until it expires, whatever
// happens after; a user's earlier tokens die with a lock, a password change, a logoff of all
// sessions, and with the user itself.

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const PASSWORD = 'User-Password-1';
const now = () => Math.floor(Date.now() / 1000);
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;

const jwtSecret = async () =>
  (parse(await readFile(join(d.home, 'config', 'config.yaml'), 'utf8')) as { REST: { JWT: { JWTSalt: string } } }).REST.JWT.JWTSalt;

/** An HS256 token signed with the daemon's own secret: the claims of `real`, with a fresh id and the given changes. */
function forge(secret: string, real: string, changes: Record<string, unknown>): string {
  const claims = { ...claimsOf(real), jti: randomBytes(12).toString('base64url'), ...changes };
  const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const status = async (token: string) => (await d.request('GET', '/appmesh/applications', { token })).status;
const renewWithRefresh = (refresh: string) => d.request('POST', '/appmesh/token/renew', { token: null, headers: { 'X-Refresh-Token': refresh } });

async function addUser(name: string, roles = ['view']): Promise<void> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, group: 'team', roles } })).status).toBe(200);
}

describe('the revocation list cannot be flushed', () => {
  test('a logged-off token and a used refresh token stay refused after 10,300 later revocations, and after a restart', async () => {
    const loggedOff = await login(d.url, 'admin', ADMIN_PASSWORD);
    expect((await d.request('POST', '/appmesh/self/logoff', { token: loggedOff })).status).toBe(200);
    expect(await status(loggedOff)).toBe(401);

    const pair = (await (await d.request('POST', '/appmesh/login', {
      token: null, headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`, 'X-Refresh-Token-Request': 'true' },
    })).json()) as { refresh_token: string };
    expect((await renewWithRefresh(pair.refresh_token)).status).toBe(200);

    // The flood: 10,300 tokens that outlive both, each logged off (the service's own logoff, no HTTP).
    const secret = await jwtSecret();
    const template = await login(d.url, 'admin', ADMIN_PASSWORD);
    const exp = now() + 29 * 86_400;
    const started = Date.now();
    for (let batch = 0; batch < 103; batch++) {
      await Promise.all(Array.from({ length: 100 }, () => d.daemon.core.auth.logoff(forge(secret, template, { exp }), undefined, 'flood')));
    }
    const floodMs = Date.now() - started;
    console.log(`10,300 revocations through the service: ${floodMs} ms`);

    expect(await status(loggedOff)).toBe(401);
    const replay = await renewWithRefresh(pair.refresh_token);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ message: 'Refresh token has been revoked' });

    await d.restart();
    expect(await status(loggedOff)).toBe(401);
    expect((await renewWithRefresh(pair.refresh_token)).status).toBe(401);
    expect(await status(d.token)).toBe(200);
  }, 60_000);

  test('the revocations are on disk and compact (about 16 bytes each)', async () => {
    const files = ['revoked-tokens.bin', 'revoked-tokens.json'];
    let size = 0;
    for (const file of files) size += await readFile(join(d.home, 'config', file)).then((data) => data.length, () => 0);
    expect(size).toBeGreaterThan(10_300 * 12);
    expect(size).toBeLessThan(10_400 * 20);
  });
});

describe('upgrade', () => {
  test('revocations of the earlier JSON list are taken over: a token revoked there stays refused', async () => {
    const first = await startTestDaemon();
    const revoked = await login(first.url, 'admin', ADMIN_PASSWORD);
    const kept = await login(first.url, 'admin', ADMIN_PASSWORD);
    await first.daemon.close();
    const legacy = join(first.home, 'config', 'revoked-tokens.json');
    await writeFile(legacy, JSON.stringify({ [String(claimsOf(revoked).jti)]: claimsOf(revoked).exp }), { mode: 0o600 });
    const second = await startTestDaemon({ home: first.home });
    try {
      expect((await second.request('GET', '/appmesh/applications', { token: revoked })).status).toBe(401);
      expect((await second.request('GET', '/appmesh/applications', { token: kept })).status).toBe(200);
      await expect(access(legacy)).rejects.toThrow();
    } finally {
      await second.stop();
    }
  });
});

describe("a user's earlier tokens", () => {
  test('a deleted and re-created user does not accept the tokens of the earlier user of that name', async () => {
    await addUser('reborn');
    const old = await login(d.url, 'reborn', PASSWORD);
    expect(await status(old)).toBe(200);
    expect((await d.request('DELETE', '/appmesh/user/reborn')).status).toBe(200);
    expect(await status(old)).toBe(401);
    await addUser('reborn');
    expect(await status(old)).toBe(401);
    expect((await d.request('POST', '/appmesh/token/renew', { token: old })).status).toBe(401);
    expect(await status(await login(d.url, 'reborn', PASSWORD))).toBe(200);
  });

  test('a token from before a lock stays refused after the unlock', async () => {
    await addUser('locked-once');
    const before = await login(d.url, 'locked-once', PASSWORD);
    expect((await d.request('POST', '/appmesh/user/locked-once/lock')).status).toBe(200);
    expect(await status(before)).toBe(401);
    expect((await d.request('POST', '/appmesh/user/locked-once/unlock')).status).toBe(200);
    expect(await status(before)).toBe(401);
    expect(await status(await login(d.url, 'locked-once', PASSWORD))).toBe(200);
  });

  test('logoff with X-Logoff-All: true ends every session of that user, and only of that user', async () => {
    await addUser('many-sessions');
    const [first, second] = [await login(d.url, 'many-sessions', PASSWORD), await login(d.url, 'many-sessions', PASSWORD)];
    const response = await d.request('POST', '/appmesh/self/logoff', { token: first, headers: { 'X-Logoff-All': 'true' } });
    expect(response.status).toBe(200);
    expect(await status(first)).toBe(401);
    expect(await status(second)).toBe(401);
    expect(await status(d.token)).toBe(200);
    expect(await status(await login(d.url, 'many-sessions', PASSWORD))).toBe(200);
  });
});

describe('expiry and renewal', () => {
  test('a token that expired 10 s ago is refused; one expiring in 10 s works', async () => {
    const secret = await jwtSecret();
    const expired = forge(secret, d.token, { iat: now() - 100, exp: now() - 10 });
    expect(await status(expired)).toBe(401);
    const response = await d.request('GET', '/appmesh/applications', { token: expired });
    expect(await response.json()).toEqual({ message: 'Token has expired' });
    expect(await status(forge(secret, d.token, { exp: now() + 10 }))).toBe(200);
  });

  test('renewals of one user are rate-limited (429 with Retry-After); another user renews meanwhile', async () => {
    await addUser('renewer');
    let token = await login(d.url, 'renewer', PASSWORD);
    const statuses: number[] = [];
    let retryAfter = '';
    for (let i = 0; i < 20; i++) {
      const response = await d.request('POST', '/appmesh/token/renew', { token });
      statuses.push(response.status);
      if (response.status === 200) token = ((await response.json()) as { access_token: string }).access_token;
      else retryAfter = response.headers.get('retry-after') ?? '';
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(await status(token)).toBe(200); // the last token issued still works

    const other = await login(d.url, 'admin', ADMIN_PASSWORD);
    expect((await d.request('POST', '/appmesh/token/renew', { token: other })).status).toBe(200);
  });
});
