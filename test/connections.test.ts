import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, login, newHome, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { rawRequest } from './helpers/raw-http.js';
import { descriptorBudget } from '../src/rest/connection-guard.js';

// Slow clients as a hostile user runs them: sockets that send a login request's headers and then
// trickle its body a byte at a time, held open as long as the daemon lets them.

const MAX_CONNECTIONS = 120;
const PER_ADDRESS = 40;

let d: TestDaemon;
let port: number;
const flood: Socket[] = [];
const timers: NodeJS.Timeout[] = [];
let scratch: string;

beforeAll(async () => {
  d = await startTestDaemon({ env: { APPMESH_Limits_MaxConnections: String(MAX_CONNECTIONS), APPMESH_Limits_MaxConnectionsPerAddress: String(PER_ADDRESS) } });
  port = Number(new URL(d.url).port);
  scratch = await mkdtemp(join(tmpdir(), 'appmesh-conn-'));
});
afterEach(() => {
  for (const timer of timers.splice(0)) clearInterval(timer);
  for (const socket of flood.splice(0)) socket.destroy();
});
afterAll(async () => {
  await d.stop();
  await rm(scratch, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens `count` sockets from `localAddress`, each sending headers then one body byte per `everyMs`. */
function trickle(count: number, localAddress: string, everyMs: number, headersOnly = false): { open: () => number } {
  let open = 0;
  const head = headersOnly
    ? 'POST /appmesh/login HTTP/1.1\r\nHost: 127.0.0.1\r\n'
    : `POST /appmesh/login HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${Buffer.from('admin:x').toString('base64')}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`;
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    flood.push(socket);
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      open++;
      socket.write(head);
    });
    socket.on('close', () => open--);
    timers.push(setInterval(() => !socket.destroyed && socket.write(headersOnly ? 'X' : ' '), everyMs));
  }
  return { open: () => open };
}

function serverConnections(): Promise<number> {
  return new Promise((resolve, reject) => d.daemon.rest.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

/** readyz, login and syncrun of a client on another address, each timed. */
async function othersServed(): Promise<Record<string, number>> {
  const timed = async (name: string, call: () => Promise<number>) => {
    const start = performance.now();
    const status = await call();
    expect(status, name).toBe(200);
    return [name, performance.now() - start] as const;
  };
  return Object.fromEntries([
    await timed('readyz', async () => (await rawRequest(`${d.url}/appmesh/readyz`)).status),
    await timed('login', async () => (await login(d.url, 'admin', ADMIN_PASSWORD)) ? 200 : 0),
    await timed('syncrun', async () => (await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo hi' } })).status),
  ]);
}

describe('connection caps', () => {
  test('300 trickling sockets from one address hold at most its share; others are served within 1 s', async () => {
    const attack = trickle(300, '127.0.0.2', 2000);
    await sleep(1500);
    const held = await serverConnections();
    const latency = await othersServed();
    console.log(`one-address flood: server holds ${held} connections, attacker keeps ${attack.open()} open; latency ms`, latency);
    expect(held).toBeLessThanOrEqual(PER_ADDRESS + 10);
    expect(attack.open()).toBeLessThanOrEqual(PER_ADDRESS);
    for (const ms of Object.values(latency)) expect(ms).toBeLessThan(1000);
  });

  test('a flood from many addresses stays under the total cap, a newcomer still gets in, and answers under way are kept', async () => {
    const held = d.request('POST', '/appmesh/app/syncrun', { body: { command: 'sleep 3; echo held', shell: true } });
    await sleep(300);
    const attacks = [2, 3, 4, 5, 6, 7].map((n) => trickle(50, `127.0.0.${n}`, 2000));
    await sleep(2000);
    const connections = await serverConnections();
    const latency = await othersServed();
    console.log(`six-address flood: server holds ${connections} connections, attackers keep ${attacks.reduce((sum, a) => sum + a.open(), 0)} open; latency ms`, latency);
    expect(connections).toBeLessThanOrEqual(MAX_CONNECTIONS + 5);
    for (const ms of Object.values(latency)) expect(ms).toBeLessThan(1000);
    const run = await held;
    expect(run.status).toBe(200);
    expect(await run.text()).toBe('held\n');
  });
});

describe('timeouts about idleness, not duration', () => {
  test('a trickled body is cut; a long syncrun and a slow but steady upload are not', async () => {
    const set = await d.request('POST', '/appmesh/config', { body: { Limits: { RequestTimeoutSeconds: 2 } } });
    expect(set.status).toBe(200);
    const attack = trickle(1, '127.0.0.12', 300);
    await sleep(500);
    expect(attack.open()).toBe(1);

    const held = d.request('POST', '/appmesh/app/syncrun', { body: { command: 'sleep 4; echo done', shell: true }, headers: {} });
    const upload = steadyUpload(join(scratch, 'steady.bin'), 16, 256 * 1024, 300);
    await sleep(4500);
    expect(attack.open()).toBe(0);
    const run = await held;
    expect(run.status).toBe(200);
    expect(await run.text()).toBe('done\n');
    expect(await upload).toBe(200);
    expect((await readFile(join(scratch, 'steady.bin'))).length).toBe(16 * 256 * 1024);
  });

  test('headers trickled one byte at a time are cut', async () => {
    const set = await d.request('POST', '/appmesh/config', { body: { Limits: { HeadersTimeoutSeconds: 2 } } });
    expect(set.status).toBe(200);
    const attack = trickle(1, '127.0.0.13', 300, true);
    await sleep(500);
    expect(attack.open()).toBe(1);
    await sleep(4500);
    expect(attack.open()).toBe(0);
  });

  test('a connection that never sends a byte is closed', async () => {
    let closed = false;
    const socket = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.14' });
    flood.push(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    await sleep(1000);
    expect(closed).toBe(false);
    await sleep(3500);
    expect(closed).toBe(true);
  });
});

/** An upload of `chunks` × `size` bytes, one chunk every `everyMs`: longer than the idle timeout, never idle. */
function steadyUpload(target: string, chunks: number, size: number, everyMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let response = '';
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString();
      const status = /^HTTP\/1\.1 (\d+)/.exec(response)?.[1];
      if (status && response.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(Number(status));
      }
    });
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(response)?.[1] ?? 0)));
    socket.write(
      `POST /appmesh/file/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${d.token}\r\nX-File-Path: ${encodeURIComponent(target)}\r\n` +
      `Content-Type: application/octet-stream\r\nContent-Length: ${chunks * size}\r\n\r\n`,
    );
    let sent = 0;
    const timer = setInterval(() => {
      socket.write(Buffer.alloc(size, 0x61));
      if (++sent === chunks) clearInterval(timer);
    }, everyMs);
    timers.push(timer);
  });
}

describe('over TLS', () => {
  test('a connection that completes the handshake and then sends nothing is closed', async () => {
    const home = await newHome();
    await mkdir(join(home, 'ssl'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-keyout', join(home, 'ssl', 'server-key.pem'), '-out', join(home, 'ssl', 'server.pem'),
    ], { stdio: 'ignore' });
    const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    // The helper's own login call must accept the self-signed certificate.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    const tls = await startTestDaemon({
      home,
      env: { APPMESH_REST_SSL_SSLCertificateFile: 'ssl/server.pem', APPMESH_REST_SSL_SSLCertificateKeyFile: 'ssl/server-key.pem', APPMESH_Limits_HeadersTimeoutSeconds: '2' },
    }).finally(() => {
      if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
    });
    try {
      let handshaken = false;
      let closed = false;
      const socket = tlsConnect({ host: '127.0.0.1', port: Number(new URL(tls.url).port), rejectUnauthorized: false }, () => (handshaken = true));
      socket.on('error', () => undefined);
      socket.on('close', () => (closed = true));
      await sleep(1000);
      expect(handshaken).toBe(true);
      expect(closed).toBe(false);
      await sleep(3500);
      expect(closed).toBe(true);
    } finally {
      await tls.stop();
    }
  });
});

describe('the open-file limit', () => {
  test('connections are kept well below it, leaving descriptors for files, runs and the broker', async () => {
    const limits = join(scratch, 'limits');
    await writeFile(limits, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n');
    expect(descriptorBudget(limits)).toBe(768);
    await writeFile(limits, 'Max open files            100                  100                  files\n');
    expect(descriptorBudget(limits)).toBe(36);
    expect(descriptorBudget(join(scratch, 'absent'))).toBeUndefined();
  });
});
