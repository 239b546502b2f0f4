import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const loginRequest = (headers: Record<string, string>) => d.request('POST', '/appmesh/login', { token: null, headers });

describe('POST /appmesh/login', () => {
  test('returns a TokenResponse and, on request, the session cookie', async () => {
    const response = await loginRequest({ Authorization: basic('admin', ADMIN_PASSWORD), 'X-Set-Cookie': 'true', 'X-Expire-Seconds': '3600' });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600, profile: { name: 'admin', group: 'admin' } });
    expect(body.expire_time).toBe((body.issued_at as number) + 3600);
    const cookie = response.headers.get('set-cookie') ?? '';
    expect(cookie).toBe(`appmesh_auth_token=${body.access_token as string}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600`);
  });

  test('sets no cookie unless asked', async () => {
    const response = await loginRequest({ Authorization: basic('admin', ADMIN_PASSWORD) });
    expect(response.headers.get('set-cookie')).toBeNull();
  });

  test('a wrong password and an unknown user are both 401 "Authentication failed"', async () => {
    for (const [user, password] of [['admin', 'wrong'], ['nobody', 'x']]) {
      const response = await loginRequest({ Authorization: basic(user, password) });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ message: 'Authentication failed' });
    }
  });

  test('another scheme is 400, a missing header 401', async () => {
    expect((await loginRequest({ Authorization: 'Digest abc' })).status).toBe(400);
    expect((await loginRequest({})).status).toBe(401);
  });

  test('audience rules and token lifetime rules', async () => {
    const auth = { Authorization: basic('admin', ADMIN_PASSWORD) };
    expect((await loginRequest({ ...auth, 'X-Audience': 'appmesh-file-service' })).status).toBe(400);
    expect((await loginRequest({ ...auth, 'X-Audience': 'unknown-audience' })).status).toBe(400);
    expect((await loginRequest({ ...auth, 'X-Expire-Seconds': '-5' })).status).toBe(400);
    expect((await loginRequest({ ...auth, 'X-Expire-Seconds': 'abc' })).status).toBe(400);
    const clamped = (await (await loginRequest({ ...auth, 'X-Expire-Seconds': '99999999' })).json()) as { expires_in: number };
    expect(clamped.expires_in).toBe(2_592_000);
    const iso = (await (await loginRequest({ ...auth, 'X-Expire-Seconds': 'PT1H' })).json()) as { expires_in: number };
    expect(iso.expires_in).toBe(3600);
  });
});

describe('token carriers', () => {
  test('Bearer, bare token and cookie (with the attributes the npm client echoes) all work', async () => {
    const token = d.token;
    const viaBearer = await d.request('GET', '/appmesh/applications', { token: null, headers: { Authorization: `Bearer ${token}` } });
    expect(viaBearer.status).toBe(200);
    const viaBare = await d.request('GET', '/appmesh/applications', { token: null, headers: { Authorization: ` ${token} ` } });
    expect(viaBare.status).toBe(200);
    const cookie = `appmesh_auth_token=${token}; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=604800`;
    const viaCookie = await d.request('GET', '/appmesh/applications', { token: null, headers: { Cookie: cookie } });
    expect(viaCookie.status).toBe(200);
  });

  test('no token is 401 with a message; a tampered token is 401', async () => {
    const none = await d.request('GET', '/appmesh/applications', { token: null });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ message: 'No authentication token provided' });
    const [header, payload, signature] = d.token.split('.');
    const forged = Buffer.from(payload, 'base64url').toString().replace('"sub":"admin"', '"sub":"admin2"');
    const tampered = `${header}.${Buffer.from(forged).toString('base64url')}.${signature}`;
    expect((await d.request('GET', '/appmesh/applications', { token: tampered })).status).toBe(401);
    const resigned = `${header}.${payload}.${signature.slice(0, -4)}AAAA`;
    expect((await d.request('GET', '/appmesh/applications', { token: resigned })).status).toBe(401);
  });

  test('a token of another audience is refused for the service', async () => {
    const response = await loginRequest({ Authorization: basic('admin', ADMIN_PASSWORD), 'X-Audience': 'your-service-api' });
    const { access_token: token } = (await response.json()) as { access_token: string };
    expect((await d.request('GET', '/appmesh/applications', { token })).status).toBe(401);
  });

  test('a cookie request from a foreign Origin is refused (CSRF), same origin is fine', async () => {
    const cookie = `appmesh_auth_token=${d.token}`;
    const foreign = await d.request('POST', '/appmesh/app/syncrun', { token: null, headers: { Cookie: cookie, Origin: 'https://evil.example' }, body: { command: 'true' } });
    expect(foreign.status).toBe(403);
    const host = new URL(d.url).host;
    const same = await d.request('POST', '/appmesh/app/syncrun', { token: null, headers: { Cookie: cookie, Origin: `http://${host}` }, body: { command: 'true' } });
    expect(same.status).toBe(200);
  });
});

describe('POST /appmesh/auth', () => {
  test('verifies the token, its audience and a permission', async () => {
    const ok = await d.request('POST', '/appmesh/auth', { headers: { 'X-Permission': 'app-view' } });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as Record<string, unknown>;
    expect(body.access_token).toBe(d.token);
    expect(body.profile).toMatchObject({ name: 'admin', group: '' });
    expect(body.refresh_token).toBeUndefined();
    expect((await d.request('POST', '/appmesh/auth', { headers: { 'X-Permission': 'no-such-permission' } })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/auth', { headers: { 'X-Audience': 'your-service-api' } })).status).toBe(401);
    expect((await d.request('POST', '/appmesh/auth', { token: null })).status).toBe(401);
  });
});

describe('unauthenticated endpoints', () => {
  test('readyz, health, OPTIONS and unknown paths', async () => {
    expect((await d.request('GET', '/appmesh/readyz', { token: null })).status).toBe(200);
    expect((await d.request('GET', '/appmesh/app/missing/health', { token: null })).status).toBe(404);
    const options = await d.request('OPTIONS', '/appmesh/applications', { token: null });
    expect(options.status).toBe(200);
    expect(options.headers.get('access-control-allow-origin')).toBe('*');
    const unknown = await d.request('GET', '/appmesh/nowhere', { token: null });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ message: 'Path not found GET:/appmesh/nowhere' });
    expect((await d.request('PATCH', '/appmesh/applications', { token: null })).status).toBe(405);
    // Subscriptions need a push channel (MQTT here): plain HTTP answers 405, as App Mesh does.
    const subscribe = await d.request('POST', '/appmesh/app/any/subscribe?events=START');
    expect(subscribe.status).toBe(405);
    expect(((await subscribe.json()) as { message: string }).message).toMatch(/MQTT/);
  });
});
