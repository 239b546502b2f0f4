import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { AppMeshClient } from 'appmesh';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, newHome, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { quietSdkErrors } from './helpers/sdk-client.js';

// HTTPS is on when REST.SSL names a certificate and key (paths relative to the home). The
// certificate is self-signed: this test process (its own worker) trusts it without a CA.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
let d: TestDaemon;
beforeAll(async () => {
  quietSdkErrors();
  const home = await newHome();
  await mkdir(join(home, 'ssl'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(home, 'ssl', 'server-key.pem'), '-out', join(home, 'ssl', 'server.pem'),
  ], { stdio: 'ignore' });
  d = await startTestDaemon({ home, env: { APPMESH_REST_SSL_SSLCertificateFile: 'ssl/server.pem', APPMESH_REST_SSL_SSLCertificateKeyFile: 'ssl/server-key.pem' } });
});
afterAll(async () => {
  await d?.stop();
});

function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL(path, d.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: path.endsWith('login') ? 'POST' : 'GET', headers, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTPS', () => {
  test('the daemon serves TLS only, and its session cookie is Secure', async () => {
    expect(d.url.startsWith('https://')).toBe(true);
    expect((await get('/appmesh/readyz')).status).toBe(200);
    const login = await get('/appmesh/login', { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`, 'X-Set-Cookie': 'true' });
    expect(login.status).toBe(200);
    expect(String(login.headers['set-cookie'])).toMatch(/; Secure/);
    // Plain HTTP on the TLS port is not served.
    const plain = await fetch(d.url.replace('https://', 'http://') + '/appmesh/readyz').then((r) => r.status, () => 0);
    expect(plain).not.toBe(200);
  });

  test('the npm client works over HTTPS with its cookie session', async () => {
    const client = new AppMeshClient(d.url, { rejectUnauthorized: false });
    await client.login('admin', ADMIN_PASSWORD);
    expect(await client.run_app_sync({ command: 'echo over-tls' }, null)).toBe(0);
    expect(Array.isArray(await client.list_apps())).toBe(true);
  });
});
