import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { generate } from 'otplib';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, login, newHome, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// Attacks over real HTTP: every one must be refused, and a refused write must leave no trace.

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const PASSWORD = 'User-Password-1';
const now = () => Math.floor(Date.now() / 1000);
const b64 = (text: string) => Buffer.from(text).toString('base64');
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const basic = (user: string, password: string) => `Basic ${b64(`${user}:${password}`)}`;
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as Record<string, unknown>;
const headerOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()) as Record<string, unknown>;

type Signer = (input: string) => Buffer;
const hmac = (key: string): Signer => (input) => createHmac('sha256', key).update(input).digest();
const rsa = (privateKeyPem: string): Signer => (input) => sign('sha256', Buffer.from(input), privateKeyPem);

/** A compact JWT; no signer gives an unsigned (`alg: none`) token. */
function jwt(alg: string, claims: Record<string, unknown>, signer?: Signer): string {
  const input = `${b64url({ alg, typ: 'JWT' })}.${b64url(claims)}`;
  return `${input}.${signer ? signer(input).toString('base64url') : ''}`;
}

/** The claims of `real` (iss, aud, sub, roles) with a fresh id and lifetime, overridable. */
function claimsLike(real: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { iat_ms: _ignored, ...claims } = claimsOf(real);
  return { ...claims, iat: now(), exp: now() + 600, jti: randomBytes(9).toString('base64url'), ...extra };
}

const jwtSecret = async (t: TestDaemon) =>
  (parse(await readFile(join(t.home, 'config', 'config.yaml'), 'utf8')) as { REST: { JWT: { JWTSalt: string } } }).REST.JWT.JWTSalt;

const loginRequest = (t: TestDaemon, user: string, password: string, headers: Record<string, string> = {}) =>
  t.request('POST', '/appmesh/login', { token: null, headers: { Authorization: basic(user, password), ...headers } });

/** Creates a user through the API (as admin) and returns its token. */
async function addUser(name: string, group: string, roles: string[], password = PASSWORD): Promise<string> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: password, group, roles } })).status).toBe(200);
  return login(d.url, name, password);
}

async function expectAccepted(t: TestDaemon, token: string): Promise<void> {
  expect((await t.request('GET', '/appmesh/applications', { token })).status).toBe(200);
}

let probes = 0;
/** The token is refused for a read and for a write (registering an app), and no app appeared. Returns the read's message. */
async function expectRefused(t: TestDaemon, token: string, status = 401): Promise<string> {
  const read = await t.request('GET', '/appmesh/applications', { token });
  expect(read.status).toBe(status);
  const probe = `attack-probe-${++probes}`;
  expect((await t.request('PUT', `/appmesh/app/${probe}`, { token, body: { command: 'true' } })).status).toBe(status);
  expect((await t.request('GET', `/appmesh/app/${probe}`)).status).toBe(404);
  return ((await read.json()) as { message: string }).message;
}

describe('forged and altered tokens (HS256 daemon)', () => {
  let lowly: string;
  beforeAll(async () => {
    lowly = await addUser('lowly', 'team', ['view']);
  });

  test('control: a token crafted here with the real secret and claims is accepted', async () => {
    await expectAccepted(d, jwt('HS256', claimsLike(d.token), hmac(await jwtSecret(d))));
  });

  const cases: [string, () => string | Promise<string>][] = [
    ['tampered signature', () => {
      const [header, payload, signature] = d.token.split('.');
      return `${header}.${payload}.${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    }],
    ['payload changed (sub lowly → admin), original signature', () => {
      const [header, , signature] = lowly.split('.');
      return `${header}.${b64url({ ...claimsOf(lowly), sub: 'admin' })}.${signature}`;
    }],
    ['alg none, same claims, no signature', () => jwt('none', claimsOf(d.token))],
    ['expired 10 minutes ago, signed with the real secret', async () =>
      jwt('HS256', claimsLike(d.token, { iat: now() - 3600, exp: now() - 600 }), hmac(await jwtSecret(d)))],
    ['admin token signed with another secret', () => jwt('HS256', claimsLike(d.token), hmac('another-secret-of-the-attacker-0123456789'))],
    ['token of another audience (your-service-api)', async () =>
      ((await (await loginRequest(d, 'admin', ADMIN_PASSWORD, { 'X-Audience': 'your-service-api' })).json()) as { access_token: string }).access_token],
  ];
  test.each(cases)('%s → 401', async (_name, make) => {
    await expectRefused(d, await make());
  });
});

describe('RS256 daemon and key confusion', () => {
  let r: TestDaemon;
  const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const keys = pair();
  beforeAll(async () => {
    const home = await newHome();
    await mkdir(join(home, 'ssl'), { recursive: true });
    await writeFile(join(home, 'ssl', 'jwt-private.pem'), keys.privateKey, { mode: 0o600 });
    await writeFile(join(home, 'ssl', 'jwt-public.pem'), keys.publicKey);
    r = await startTestDaemon({ home, env: { APPMESH_REST_JWT_Algorithm: 'RS256' } });
  });
  afterAll(async () => {
    await r?.stop();
  });

  test('a real RS256 token works (and so does one crafted here with the daemon key)', async () => {
    expect(headerOf(r.token).alg).toBe('RS256');
    await expectAccepted(r, r.token);
    await expectAccepted(r, jwt('RS256', claimsLike(r.token), rsa(keys.privateKey)));
  });

  test.each<[string, () => string]>([
    ['HS256 with the RS256 public key PEM as HMAC key', () => jwt('HS256', claimsLike(r.token), hmac(keys.publicKey))],
    ['RS256 signed by another RSA key', () => jwt('RS256', claimsLike(r.token), rsa(pair().privateKey))],
    ['alg none', () => jwt('none', claimsOf(r.token))],
  ])('%s → 401', async (_name, make) => {
    await expectRefused(r, make());
  });
});

describe('revoked tokens', () => {
  test('a logged-off token is refused, also after a daemon restart', async () => {
    const token = await login(d.url, 'admin', ADMIN_PASSWORD);
    await expectAccepted(d, token);
    expect((await d.request('POST', '/appmesh/self/logoff', { token })).status).toBe(200);
    expect(await expectRefused(d, token)).toBe('Token has been revoked');
    expect((await d.request('POST', '/appmesh/token/renew', { token })).status).toBe(401);
    await d.restart();
    await expectRefused(d, token);
    await expectAccepted(d, d.token);
  });

  test('a renewed-away token is refused; the new one works', async () => {
    const old = await login(d.url, 'admin', ADMIN_PASSWORD);
    const renewed = await d.request('POST', '/appmesh/token/renew', { token: old });
    expect(renewed.status).toBe(200);
    const { access_token: fresh } = (await renewed.json()) as { access_token: string };
    expect(fresh).not.toBe(old);
    await expectRefused(d, old);
    expect((await d.request('POST', '/appmesh/token/renew', { token: old })).status).toBe(401);
    await expectAccepted(d, fresh);
  });

  test('the token of a locked user is refused, and the user cannot log in', async () => {
    const token = await addUser('to-lock', 'team', ['view', 'manage']);
    await expectAccepted(d, token);
    expect((await d.request('POST', '/appmesh/user/to-lock/lock')).status).toBe(200);
    expect(await expectRefused(d, token)).toBe('User to-lock was locked');
    expect((await d.request('POST', '/appmesh/token/renew', { token })).status).toBe(401);
    expect((await loginRequest(d, 'to-lock', PASSWORD)).status).toBe(401);
  });

  test('a token issued before a password change is refused; a login right after it works', async () => {
    const before = await addUser('pw-user', 'team', ['view', 'manage'], 'Old-Password-1');
    const change = await d.request('POST', '/appmesh/user/pw-user/passwd', {
      token: before, body: { old_password: b64('Old-Password-1'), new_password: b64('New-Password-2') },
    });
    expect(change.status).toBe(200);
    const after = await login(d.url, 'pw-user', 'New-Password-2'); // usually the same second as the change
    await expectRefused(d, before);
    await expectAccepted(d, after);
    expect((await loginRequest(d, 'pw-user', 'Old-Password-1')).status).toBe(401);
  });
});

describe('TOTP codes', () => {
  test('a code logs in once; its replay and a wrong code are refused without a token', async () => {
    const token = await addUser('mfa-user', 'team', ['view', 'manage']);
    const { mfa_uri: uri } = (await (await d.request('POST', '/appmesh/totp/secret', { token })).json()) as { mfa_uri: string };
    const secret = new URL(Buffer.from(uri, 'base64').toString()).searchParams.get('secret') ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect((await d.request('POST', '/appmesh/totp/setup', { token, headers: { 'X-Totp-Code': await generate({ secret }) } })).status).toBe(200);

    const code = await generate({ secret, epoch: now() + 30 }); // the setup used the current step
    const withCode = (totp: string) => loginRequest(d, 'mfa-user', PASSWORD, { 'X-Totp-Code': totp });
    const first = await withCode(code);
    expect(first.status).toBe(200);
    expect(((await first.json()) as { access_token?: string }).access_token).toBeTruthy();

    const valid = new Set(await Promise.all([-30, 0, 30, 60].map((offset) => generate({ secret, epoch: now() + offset }))));
    let wrong = 0;
    while (valid.has(String(wrong).padStart(6, '0'))) wrong++;
    for (const refused of [code, String(wrong).padStart(6, '0')]) {
      const response = await withCode(refused);
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ message: 'Invalid TOTP token' });
    }
  });
});

describe('refresh tokens', () => {
  test('a refresh token works once and is never an access token', async () => {
    const loggedIn = await loginRequest(d, 'admin', ADMIN_PASSWORD, { 'X-Refresh-Token-Request': 'true' });
    const { refresh_token: refresh } = (await loggedIn.json()) as { refresh_token: string };
    expect(refresh).toBeTruthy();
    const renew = (token: string) => d.request('POST', '/appmesh/token/renew', { token: null, headers: { 'X-Refresh-Token': token } });

    const first = await renew(refresh);
    expect(first.status).toBe(200);
    const pair = (await first.json()) as { access_token: string; refresh_token: string };
    expect(pair.refresh_token).toBeTruthy();
    expect(pair.refresh_token).not.toBe(refresh);
    await expectAccepted(d, pair.access_token);

    const replay = await renew(refresh);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toEqual({ message: 'Refresh token has been revoked' });

    // The new, unused refresh token as a Bearer token: refused everywhere, and still good afterwards.
    await expectRefused(d, pair.refresh_token);
    expect((await d.request('POST', '/appmesh/token/renew', { token: pair.refresh_token })).status).toBe(401);
    expect((await d.request('POST', '/appmesh/auth', { token: pair.refresh_token, headers: { 'X-Audience': 'appmesh-refresh' } })).status).toBe(401);
    expect((await renew(pair.refresh_token)).status).toBe(200);
  });
});

/** A login sent from a chosen loopback address (fetch cannot pick the local address). */
function loginFrom(localAddress: string, url: string, authorization: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: new URL(url).port, localAddress, method: 'POST', path: '/appmesh/login', headers: { Authorization: authorization } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('password brute force (own daemon, so the throttle touches nothing else)', () => {
  let b: TestDaemon;
  beforeAll(async () => {
    b = await startTestDaemon();
  });
  afterAll(async () => {
    await b?.stop();
  });

  test('50 wrong passwords block that client (429 + Retry-After), not another address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 50; i++) statuses.push((await loginRequest(b, 'admin', `wrong-${i}`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
    expect(statuses.at(-1)).toBe(429);

    for (const headers of [{}, { 'X-Forwarded-For': '10.1.2.3' }] as Record<string, string>[]) {
      const right = await loginRequest(b, 'admin', ADMIN_PASSWORD, headers);
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await right.json()) as { access_token?: string }).access_token).toBeUndefined();
    }

    const other = await loginFrom('127.0.0.2', b.url, basic('admin', ADMIN_PASSWORD));
    expect(other.status).toBe(200);
    await expectAccepted(b, (JSON.parse(other.body) as { access_token: string }).access_token);
  });
});

describe('CSRF on cookie sessions', () => {
  test('a cookie request from a foreign Origin is 403 and changes nothing; Bearer is not subject to it', async () => {
    expect((await d.request('PUT', '/appmesh/app/csrf-target', { body: { command: 'sleep 600' } })).status).toBe(200);
    const status = async () => ((await (await d.request('GET', '/appmesh/app/csrf-target')).json()) as { status: number }).status;
    const evil = { Cookie: `appmesh_auth_token=${d.token}`, Origin: 'https://evil.example' };
    const attempts: [string, string, unknown?][] = [
      ['POST', '/appmesh/app/csrf-target/disable'],
      ['DELETE', '/appmesh/app/csrf-target'],
      ['PUT', '/appmesh/app/csrf-new', { command: 'true' }],
      ['POST', '/appmesh/user/lowly/lock'],
    ];
    for (const [method, path, body] of attempts) {
      const response = await d.request(method, path, { token: null, headers: evil, body });
      expect(`${method} ${path} → ${response.status}`).toBe(`${method} ${path} → 403`);
      expect(await response.json()).toEqual({ message: 'CSRF validation failed: origin not allowed' });
    }
    expect(await status()).toBe(1);
    expect((await d.request('GET', '/appmesh/app/csrf-new')).status).toBe(404);
    const users = (await (await d.request('GET', '/appmesh/users')).json()) as Record<string, { locked: boolean }>;
    expect(users.lowly.locked).toBe(false);

    const bearer = await d.request('POST', '/appmesh/app/csrf-target/disable', { headers: { Origin: 'https://evil.example' } });
    expect(bearer.status).toBe(200);
    expect(await status()).toBe(0);
    expect((await d.request('DELETE', '/appmesh/app/csrf-target')).status).toBe(200);
  });
});

describe("another tenant's private app", () => {
  test('a user of another group can neither see, run nor change it, and it stays unchanged', async () => {
    const a = await addUser('tenant-a', 'group-a', ['view', 'shell', 'manage']);
    const b = await addUser('tenant-b', 'group-b', ['view', 'shell', 'manage']);
    expect((await d.request('PUT', '/appmesh/app/a-private', { token: a, body: { command: 'sleep 600', permission: 11 } })).status).toBe(200);
    const snapshot = async () => {
      const app = (await (await d.request('GET', '/appmesh/app/a-private', { token: a })).json()) as Record<string, unknown>;
      const { name, owner, permission, command, status, pid, process_uuid, starts, register_time } = app;
      return { name, owner, permission, command, status, pid, process_uuid, starts, register_time };
    };
    await waitFor(async () => (await snapshot()).pid, 10_000, 'a-private to start');
    const before = await snapshot();
    expect(before).toMatchObject({ owner: 'tenant-a', permission: 11, command: 'sleep 600', status: 1 });

    const attempts: [string, string, unknown?][] = [
      ['GET', '/appmesh/app/a-private'],
      ['GET', '/appmesh/app/a-private/output'],
      ['POST', '/appmesh/app/run', { name: 'a-private' }],
      ['POST', '/appmesh/app/syncrun', { name: 'a-private' }],
      ['PUT', '/appmesh/app/a-private', { name: 'a-private', command: 'echo pwned', permission: 33 }],
      ['POST', '/appmesh/app/a-private/disable'],
      ['POST', '/appmesh/app/a-private/enable'],
      ['DELETE', '/appmesh/app/a-private'],
    ];
    const results: string[] = [];
    for (const [method, path, body] of attempts) results.push(`${method} ${path} → ${(await d.request(method, path, { token: b, body })).status}`);
    expect(results).toEqual(attempts.map(([method, path]) => `${method} ${path} → 400`));

    const listed = (await (await d.request('GET', '/appmesh/applications', { token: b })).json()) as { name: string }[];
    expect(listed.map((app) => app.name)).not.toContain('a-private');
    expect(await snapshot()).toEqual(before);
    expect((await d.request('DELETE', '/appmesh/app/a-private', { token: a })).status).toBe(200);
  });
});
