import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Two nodes of one cluster: they share the JWT secret, so a token of one works on the other.
const SHARED_SECRET = randomBytes(32).toString('base64url');
let a: TestDaemon;
let b: TestDaemon;
beforeAll(async () => {
  b = await startTestDaemon({ env: { APPMESH_REST_JWT_JWTSalt: SHARED_SECRET } });
  // A relays only to the nodes it is told of: B, and a port where nothing listens.
  a = await startTestDaemon({ env: { APPMESH_REST_JWT_JWTSalt: SHARED_SECRET, APPMESH_REST_ClusterNodes: `${new URL(b.url).host},127.0.0.1:1` } });
});
afterAll(async () => {
  await a.stop();
  await b.stop();
});

const target = (daemon: TestDaemon) => ({ 'X-Target-Host': new URL(daemon.url).host });

describe('X-Target-Host forwarding', () => {
  test('a request is relayed unchanged to the target node, with its status, headers and body', async () => {
    expect((await b.request('PUT', '/appmesh/app/on-b', { body: { command: 'sleep 30' } })).status).toBe(200);
    const viaA = await a.request('GET', '/appmesh/app/on-b', { headers: target(b) });
    expect(viaA.status).toBe(200);
    expect(((await viaA.json()) as { name: string }).name).toBe('on-b');
    expect((await a.request('GET', '/appmesh/app/on-b')).status).toBe(404);

    const run = await a.request('POST', '/appmesh/app/syncrun', { headers: target(b), body: { command: 'echo relayed; exit 2', shell: true } });
    expect(run.headers.get('x-exit-code')).toBe('2');
    expect(await run.text()).toBe('relayed\n');
    const missing = await a.request('DELETE', '/appmesh/app/nowhere', { headers: target(b) });
    expect(missing.status).toBe(404);
    await b.request('DELETE', '/appmesh/app/on-b');
  });

  test('no token: refused before any connection; a bad host is 400; an unreachable one 502', async () => {
    expect((await a.request('GET', '/appmesh/applications', { token: null, headers: target(b) })).status).toBe(401);
    expect((await a.request('GET', '/appmesh/applications', { headers: { 'X-Target-Host': 'no port here' } })).status).toBe(400);
    const unreachable = await a.request('GET', '/appmesh/applications', { headers: { 'X-Target-Host': '127.0.0.1:1' } });
    expect(unreachable.status).toBe(502);
    expect(((await unreachable.json()) as { message: string }).message).toMatch(/unreachable/);
  });
});
