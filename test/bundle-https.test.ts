// The bundled daemon loads Node's TLS, HTTPS and HTTP/2 modules only when something uses them: one
// configured for HTTPS (REST.SSL) serves TLS (REST and the WebSocket transport), logs in and
// answers a metrics scrape as before.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUNDLE_MAIN, spawnBundledDaemon } from './helpers/bundled-daemon.js';
import { freePort } from './helpers/free-port.js';
import { newHome, waitFor } from './helpers/test-daemon.js';

const PASSWORD = 'Bundle-Https-Password-1';

interface Answer {
  status: number;
  body: string;
}

describe('the bundled daemon over HTTPS', () => {
  let child: ChildProcess;
  let home: string;
  let port: number;
  let webSocketPort: number;
  let readOutput = () => '';

  // The certificate is self-signed: accepted by this client without a CA.
  const call = (method: string, path: string, headers: Record<string, string> = {}, on = port): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: on, path, method, headers, rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  beforeAll(async () => {
    expect(existsSync(BUNDLE_MAIN), `${BUNDLE_MAIN} is built by npm run build`).toBe(true);
    home = await newHome();
    await mkdir(join(home, 'ssl'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(home, 'ssl', 'server-key.pem'), '-out', join(home, 'ssl', 'server.pem'),
    ], { stdio: 'ignore' });
    webSocketPort = await freePort();
    const daemon = await spawnBundledDaemon({
      password: PASSWORD,
      home,
      env: {
        APPMESH_REST_RestTcpPort: '0',
        APPMESH_REST_WebSocketPort: String(webSocketPort),
        APPMESH_MQTT_Enabled: 'false',
        APPMESH_REST_SSL_SSLCertificateFile: 'ssl/server.pem',
        APPMESH_REST_SSL_SSLCertificateKeyFile: 'ssl/server-key.pem',
      },
    });
    ({ child, port } = daemon);
    readOutput = daemon.output;
    await waitFor(async () => (await call('GET', '/appmesh/readyz').catch(() => undefined))?.status === 200, 20_000, 'readyz of the bundled daemon over HTTPS');
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
  });

  test('logs in and answers a metrics scrape over TLS', async () => {
    const login = await call('POST', '/appmesh/login', { Authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` });
    expect(login.status, readOutput()).toBe(200);
    const token = (JSON.parse(login.body) as { access_token: string }).access_token;
    const metrics = await call('GET', '/appmesh/metrics', { Authorization: `Bearer ${token}` });
    expect(metrics.status, readOutput()).toBe(200);
    expect(metrics.body).toContain('appmesh_nodejs_');
  });

  test('the WebSocket transport serves TLS on its own port too', async () => {
    expect((await call('GET', '/appmesh/readyz', {}, webSocketPort)).status, readOutput()).toBe(200);
  });

  test('plain HTTP on its port is not served', async () => {
    const plain = await fetch(`http://127.0.0.1:${port}/appmesh/readyz`).then((r) => r.status, () => 0);
    expect(plain).not.toBe(200);
  });
});
