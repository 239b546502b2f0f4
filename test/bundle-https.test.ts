// The bundled daemon loads Node's TLS, HTTPS and HTTP/2 modules only when something uses them: one
// configured for HTTPS (REST.SSL) serves TLS (REST and the WebSocket transport), logs in and
// answers a metrics scrape as before.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort } from './helpers/free-port.js';
import { newHome, waitFor } from './helpers/test-daemon.js';

const ROOT = join(import.meta.dirname, '..');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
const BUNDLE_MAIN = join(ROOT, PACKAGE.bin['appmesh-ts']!);
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
  let output = '';

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
    port = await freePort();
    webSocketPort = await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('APPMESH_')));
    child = spawn(BUNDLE_MAIN, [], {
      env: {
        ...env,
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        APPMESH_HOME: home,
        APPMESH_ADMIN_PASSWORD: PASSWORD,
        APPMESH_REST_RestListenPort: String(port),
        APPMESH_REST_RestTcpPort: '0',
        APPMESH_REST_WebSocketPort: String(webSocketPort),
        APPMESH_MQTT_Enabled: 'false',
        APPMESH_REST_SSL_SSLCertificateFile: 'ssl/server.pem',
        APPMESH_REST_SSL_SSLCertificateKeyFile: 'ssl/server-key.pem',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitFor(async () => (await call('GET', '/appmesh/readyz').catch(() => undefined))?.status === 200, 20_000, 'readyz of the bundled daemon over HTTPS');
  });

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
  });

  test('logs in and answers a metrics scrape over TLS', async () => {
    const login = await call('POST', '/appmesh/login', { Authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` });
    expect(login.status, output).toBe(200);
    const token = (JSON.parse(login.body) as { access_token: string }).access_token;
    const metrics = await call('GET', '/appmesh/metrics', { Authorization: `Bearer ${token}` });
    expect(metrics.status, output).toBe(200);
    expect(metrics.body).toContain('appmesh_nodejs_');
  });

  test('the WebSocket transport serves TLS on its own port too', async () => {
    expect((await call('GET', '/appmesh/readyz', {}, webSocketPort)).status, output).toBe(200);
  });

  test('plain HTTP on its port is not served', async () => {
    const plain = await fetch(`http://127.0.0.1:${port}/appmesh/readyz`).then((r) => r.status, () => 0);
    expect(plain).not.toBe(200);
  });
});
