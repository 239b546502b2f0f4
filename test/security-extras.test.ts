import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Logger } from '../src/util/log.js';
import { ADMIN_PASSWORD, login, newHome, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');

describe('password complexity (REST.PasswordComplexityEnabled)', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ env: { APPMESH_REST_PasswordComplexityEnabled: 'true' } });
  });
  afterAll(async () => {
    await d.stop();
  });

  test('weak passwords are refused with the reason, strong ones accepted', async () => {
    const weak = await d.request('PUT', '/appmesh/user/weakling', { body: { key: 'password', group: 'g' } });
    expect(weak.status).toBe(400);
    expect(((await weak.json()) as { message: string }).message).toMatch(/upper-case letter.*digit.*special character/);
    expect((await d.request('PUT', '/appmesh/user/strong', { body: { key: 'Str0ng-Passw0rd', group: 'g', roles: ['view'] } })).status).toBe(200);
    const token = await login(d.url, 'strong', 'Str0ng-Passw0rd');
    const change = await d.request('POST', '/appmesh/user/self/passwd', { token, body: { old_password: b64('Str0ng-Passw0rd'), new_password: b64('short') } });
    expect(change.status).toBe(400);
    await login(d.url, 'strong', 'Str0ng-Passw0rd');
  });
});

describe('login throttling under a parallel burst', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.stop();
  });

  test('30 wrong passwords sent at once: only the first few are checked, the rest get 429', async () => {
    const attempts = await Promise.all(Array.from({ length: 30 }, () =>
      d.request('POST', '/appmesh/login', { token: null, headers: { Authorization: `Basic ${b64('admin:wrong-guess')}` } })));
    const statuses = attempts.map((attempt) => attempt.status);
    expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(5);
    expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(25);
    expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
  });
});

describe('TOTP codes', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.stop();
  });

  test('one code presented by two clients at the same moment logs in only one of them', async () => {
    const { generate } = await import('otplib');
    const uri = Buffer.from(((await (await d.request('POST', '/appmesh/totp/secret')).json()) as { mfa_uri: string }).mfa_uri, 'base64').toString();
    const secret = new URL(uri).searchParams.get('secret')!;
    expect((await d.request('POST', '/appmesh/totp/setup', { headers: { 'X-Totp-Code': await generate({ secret }) } })).status).toBe(200);
    const code = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    const { request } = await import('node:http');
    const url = new URL(d.url);
    // Two client addresses, so the per-address turns do not serialise them.
    const attempt = (localAddress: string) => new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/appmesh/login', method: 'POST', localAddress, headers: { Authorization: `Basic ${b64(`admin:${ADMIN_PASSWORD}`)}`, 'X-Totp-Code': code } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    const statuses = await Promise.all([attempt('127.0.0.1'), attempt('127.0.0.2')]);
    expect(statuses.sort()).toEqual([200, 401]);
  });
});

describe('ES256 tokens', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    const home = await newHome();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    await mkdir(join(home, 'ssl'), { recursive: true });
    await writeFile(join(home, 'ssl', 'jwt-ec-private.pem'), privateKey, { mode: 0o600 });
    await writeFile(join(home, 'ssl', 'jwt-ec-public.pem'), publicKey);
    d = await startTestDaemon({ home, env: { APPMESH_REST_JWT_Algorithm: 'ES256' } });
  });
  afterAll(async () => {
    await d.stop();
  });

  test('tokens are signed with ES256 and verified with the public key', async () => {
    const header = JSON.parse(Buffer.from(d.token.split('.')[0], 'base64url').toString()) as { alg: string };
    expect(header.alg).toBe('ES256');
    expect((await d.request('GET', '/appmesh/applications')).status).toBe(200);
    const [, payload, signature] = d.token.split('.');
    const hs256 = `${Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url')}.${payload}.${signature}`;
    expect((await d.request('GET', '/appmesh/applications', { token: hs256 })).status).toBe(401);
  });
});

describe('audit log and logs', () => {
  const lines: string[] = [];
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ logger: new Logger('DEBUG', (line) => lines.push(line)) });
  });
  afterAll(async () => {
    await d.stop();
  });

  test('security events are recorded as JSON lines; no password or token appears in them or in the logs', async () => {
    const secretPassword = 'Audited-User-Pass-9';
    await d.request('POST', '/appmesh/login', { token: null, headers: { Authorization: `Basic ${b64(`admin:${secretPassword}`)}` } });
    await d.request('PUT', '/appmesh/user/audited', { body: { key: secretPassword, group: 'g', roles: ['shell'] } });
    const token = await login(d.url, 'audited', secretPassword);
    await d.request('POST', '/appmesh/app/syncrun', { token, body: { command: 'true' } });
    await d.request('PUT', '/appmesh/app/audited-app', { body: { command: 'sleep 5', sec_env: { API_KEY: 'sec-env-value-123' } } });
    await d.request('POST', '/appmesh/config', { body: { REST: { JWT: { JWTSalt: 'new-secret-salt-value-0123456789' } } } });
    await d.request('POST', '/appmesh/self/logoff', { token });
    // Audit lines are written in the background, in order: wait for the last one.
    const text = await waitFor(async () => {
      const content = await readFile(join(d.home, 'audit.log'), 'utf8').catch(() => '');
      return content.includes('"token.revoke"') ? content : undefined;
    }, 5000, 'the audit log');
    const events = text.trim().split('\n').map((line) => JSON.parse(line) as { event: string; user?: string; outcome: string; time: string });
    const seen = (event: string, outcome: string, user?: string) => events.some((e) => e.event === event && e.outcome === outcome && (user === undefined || e.user === user));
    expect(seen('login', 'failure', 'admin')).toBe(true);
    expect(seen('login', 'success', 'audited')).toBe(true);
    expect(seen('user.add', 'success', 'admin')).toBe(true);
    expect(seen('app.run', 'success', 'audited')).toBe(true);
    expect(seen('app.register', 'success', 'admin')).toBe(true);
    expect(seen('token.revoke', 'success', 'audited')).toBe(true);
    expect(events.find((e) => e.event === 'config.set')).toMatchObject({ detail: 'REST.JWT.JWTSalt' });
    for (const secret of [secretPassword, ADMIN_PASSWORD, token, 'sec-env-value-123', 'new-secret-salt-value-0123456789']) {
      expect(text).not.toContain(secret);
      expect(lines.join('\n')).not.toContain(secret);
    }
  });
});
