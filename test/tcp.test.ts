import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { decode, encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Logger } from '../src/util/log.js';
import { FRAME_MAGIC } from '../src/transport/framing.js';
import { ADMIN_PASSWORD, newHome, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// The npm client 1.2.0's TCP transport always speaks TLS: the daemon gets a self-signed certificate.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

interface TcpEvent {
  event_type: string;
  app_name: string;
  sequence: number;
  subscription_id: string;
  data: Record<string, unknown> | null;
}
interface NpmTcpClient {
  login(user: string, password: string): Promise<void>;
  list_apps(): Promise<unknown>;
  run_app_sync(app: Record<string, unknown>, handler: ((output: unknown) => void) | null, maxTime?: number): Promise<number | null>;
  add_app(name: string, app: Record<string, unknown>, events?: string[], callback?: (event: TcpEvent) => void): Promise<Record<string, unknown>>;
  subscribe(app: string, events: string[], callback: (event: TcpEvent) => void): Promise<{ subscription_id: string; events: string[] }>;
  unsubscribe(id: string): Promise<void>;
  upload_file(local: string, remote: string, applyAttrs?: boolean): Promise<void>;
  download_file(remote: string, local: string, applyAttrs?: boolean): Promise<void>;
  close(): void;
}
type NpmTcpClientClass = new (ssl: Record<string, unknown> | null, address: [string, number]) => NpmTcpClient;

const lines: string[] = [];
let d: TestDaemon;
let port: number;
let AppMeshClientTCP: NpmTcpClientClass;

beforeAll(async () => {
  const home = await newHome();
  await mkdir(join(home, 'ssl'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(home, 'ssl', 'server-key.pem'), '-out', join(home, 'ssl', 'server.pem'),
  ], { stdio: 'ignore' });
  d = await startTestDaemon({
    home,
    tcpPort: 0,
    logger: new Logger('INFO', (line) => lines.push(line)),
    env: { APPMESH_REST_SSL_SSLCertificateFile: 'ssl/server.pem', APPMESH_REST_SSL_SSLCertificateKeyFile: 'ssl/server-key.pem' },
  });
  port = d.daemon.tcp!.port;
  // The package exports no subpath for it: load the file the package ships.
  const module = (await import(pathToFileURL(resolve('node_modules/appmesh/src/appmesh_tcp.js')).href)) as { AppMeshClientTCP: NpmTcpClientClass };
  AppMeshClientTCP = module.AppMeshClientTCP;
}, 30_000);
afterAll(async () => {
  await d?.stop();
});

function npmClient(): NpmTcpClient {
  return new AppMeshClientTCP({ rejectUnauthorized: false }, ['127.0.0.1', port]);
}

/** A raw TLS connection speaking the 8-byte framing. */
async function raw(): Promise<{ socket: TLSSocket; closed: Promise<void>; next(): Promise<Record<string, unknown>> }> {
  const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await new Promise<void>((ok, fail) => socket.once('secureConnect', ok).once('error', fail));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((ok) => socket.once('close', () => ok()));
  let buffer = Buffer.alloc(0);
  const waiting: ((value: Record<string, unknown>) => void)[] = [];
  const ready: Record<string, unknown>[] = [];
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    while (buffer.length >= 8 && buffer.length >= 8 + buffer.readUInt32BE(4)) {
      const message = decode(buffer.subarray(8, 8 + buffer.readUInt32BE(4))) as Record<string, unknown>;
      buffer = buffer.subarray(8 + buffer.readUInt32BE(4));
      const waiter = waiting.shift();
      if (waiter) waiter(message);
      else ready.push(message);
    }
  });
  return { socket, closed, next: () => new Promise((ok) => (ready.length ? ok(ready.shift()!) : waiting.push(ok))) };
}

function framed(body: Uint8Array): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(FRAME_MAGIC, 0);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe('the npm appmesh@1.2.0 TCP client (4-byte framing)', () => {
  test('logs in, lists apps and runs a command', async () => {
    const client = npmClient();
    try {
      await client.login('admin', ADMIN_PASSWORD);
      const apps = await client.list_apps();
      expect(Array.isArray(apps)).toBe(true);
      const output: unknown[] = [];
      expect(await client.run_app_sync({ command: 'echo over-tcp' }, (text) => output.push(text), 30)).toBe(0);
      expect(String(output.join(''))).toContain('over-tcp');
    } finally {
      client.close();
    }
  });

  test('subscribes to an app and receives START, STDOUT and EXIT of a run, in order', async () => {
    const client = npmClient();
    try {
      await client.login('admin', ADMIN_PASSWORD);
      const events: TcpEvent[] = [];
      const app = await client.add_app('tcp-watched', { command: 'sh -c "echo watched-line; sleep 0.2"', status: 1 }, ['START', 'STDOUT', 'EXIT'], (event) => events.push(event));
      expect(typeof app.subscription_id).toBe('string');
      await expect.poll(() => events.some((e) => e.event_type === 'EXIT'), { timeout: 15_000 }).toBe(true);
      const types = events.map((e) => e.event_type);
      expect(types[0]).toBe('START');
      expect(types.indexOf('EXIT')).toBeGreaterThan(types.indexOf('STDOUT'));
      expect(events.filter((e) => e.event_type === 'STDOUT').map((e) => e.data?.output).join('')).toContain('watched-line');
      expect(events.every((e) => e.subscription_id === app.subscription_id)).toBe(true);
      for (let i = 1; i < events.length; i++) expect(events[i]!.sequence).toBeGreaterThan(events[i - 1]!.sequence);
      const second = await client.subscribe('tcp-watched', ['EXIT'], () => undefined);
      expect(second.events).toEqual(['EXIT']);
      await client.unsubscribe(second.subscription_id);
    } finally {
      client.close();
    }
  });
});

describe('file transfer over TCP (file frames after the reply, a zero-length frame at the end)', () => {
  test('the npm client uploads and downloads a file both ways, unchanged, and the connection serves on', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'appmesh-tcp-files-'));
    const client = npmClient();
    try {
      await client.login('admin', ADMIN_PASSWORD);
      const local = join(scratch, 'local.bin');
      await writeFile(local, randomBytes(3 * 1024 * 1024 + 17));
      await chmod(local, 0o640);
      const remote = join(scratch, 'remote.bin');
      await client.upload_file(local, remote);
      await expect.poll(async () => (await stat(remote).catch(() => undefined))?.size).toBe(3 * 1024 * 1024 + 17);
      expect((await stat(remote)).mode & 0o777).toBe(0o640);
      const back = join(scratch, 'back.bin');
      await client.download_file(remote, back);
      const digest = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');
      expect(await digest(back)).toBe(await digest(local));
      expect(Array.isArray(await client.list_apps())).toBe(true);
    } finally {
      client.close();
    }
  });
});

describe('the 8-byte framing of current clients', () => {
  test('a request is answered in the same framing, with the body as bytes', async () => {
    const { socket, next } = await raw();
    socket.write(framed(encode({ uuid: 'u-1', http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } })));
    const login = await next();
    expect(login.uuid).toBe('u-1');
    expect(login.http_status).toBe(200);
    expect(login.body).toBeInstanceOf(Uint8Array);
    const token = (JSON.parse(Buffer.from(login.body as Uint8Array).toString()) as { access_token: string }).access_token;
    socket.write(framed(encode({ uuid: 'u-2', http_method: 'GET', request_uri: '/appmesh/applications', headers: { Authorization: token }, query: { n: 1 } })));
    const apps = await next();
    expect(apps).toMatchObject({ uuid: 'u-2', http_status: 200, request_uri: '/appmesh/applications', body_msg_type: 'application/json' });
    socket.destroy();
  });

  test('before authentication only login is served; a connection that insists is closed', async () => {
    const { socket, next, closed } = await raw();
    socket.write(framed(encode({ uuid: 'a', http_method: 'GET', request_uri: '/appmesh/applications' })));
    expect((await next()).http_status).toBe(401);
    for (let i = 0; i < 20; i++) socket.write(framed(encode({ uuid: `b${i}`, http_method: 'GET', request_uri: '/appmesh/applications' })));
    await closed;
    expect(lines.some((line) => line.includes('requests without authentication'))).toBe(true);
  });
});

describe('bounds and ownership on one connection', () => {
  const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

  test('requests in flight beyond 32 get 429 without being served; the connection serves on', async () => {
    const { socket, next } = await raw();
    socket.write(framed(encode({ uuid: 'login', http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: basic } })));
    const token = (JSON.parse(Buffer.from((await next()).body as Uint8Array).toString()) as { access_token: string }).access_token;
    for (let i = 0; i < 40; i++) {
      socket.write(framed(encode({ uuid: `slow-${i}`, http_method: 'POST', request_uri: '/appmesh/app/syncrun', headers: { Authorization: token }, query: { timeout: 10 }, body: Buffer.from(JSON.stringify({ command: 'sleep 1' })) })));
    }
    const replies = await Promise.all(Array.from({ length: 40 }, () => next()));
    const statuses = replies.map((r) => r.http_status);
    expect(statuses.filter((s) => s === 429)).toHaveLength(8);
    expect(statuses.filter((s) => s === 200)).toHaveLength(32);
    socket.destroy();
  }, 30_000);

  test('another user cannot remove a subscription: it looks unknown (404)', async () => {
    expect((await d.request('PUT', '/appmesh/user/tcp-mallory', { body: { key: 'Tcp-Mallory-Password-1', group: 'mallory', roles: ['manage', 'view'] } })).status).toBe(200);
    const owner = npmClient();
    try {
      await owner.login('admin', ADMIN_PASSWORD);
      const { subscription_id: id } = await owner.subscribe('*', ['EXIT'], () => undefined);
      const { socket, next } = await raw();
      socket.write(framed(encode({ uuid: 'l', http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: `Basic ${Buffer.from('tcp-mallory:Tcp-Mallory-Password-1').toString('base64')}` } })));
      const token = (JSON.parse(Buffer.from((await next()).body as Uint8Array).toString()) as { access_token: string }).access_token;
      socket.write(framed(encode({ uuid: 'u', http_method: 'DELETE', request_uri: '/appmesh/subscribe', headers: { Authorization: token }, query: { subscription_id: id } })));
      expect((await next()).http_status).toBe(404);
      socket.destroy();
      await owner.unsubscribe(id);
    } finally {
      owner.close();
    }
  });
});

describe('bad frames close that connection with a logged reason; the daemon serves on', () => {
  const cases: [string, (socket: TLSSocket) => void, RegExp][] = [
    ['wrong magic', (s) => s.write(Buffer.concat([framed(encode({ uuid: 'x', http_method: 'GET', request_uri: '/appmesh/readyz' })), Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 0])])), /bad frame magic/],
    ['oversized', (s) => { const h = Buffer.alloc(8); h.writeUInt32BE(FRAME_MAGIC, 0); h.writeUInt32BE(0x7fffffff, 4); s.write(h); }, /above the bound/],
    ['garbage msgpack', (s) => s.write(framed(Buffer.from([0xc1, 0xc1, 0xc1]))), /not a msgpack message/],
    ['truncated', (s) => { const h = Buffer.alloc(8); h.writeUInt32BE(FRAME_MAGIC, 0); h.writeUInt32BE(100, 4); s.end(Buffer.concat([h, Buffer.alloc(10)])); }, /truncated frame/],
  ];
  test.each(cases)('%s', async (_name, send, reason) => {
    const bystander = await raw();
    const { socket, closed } = await raw();
    send(socket);
    await closed;
    await expect.poll(() => lines.some((line) => reason.test(line))).toBe(true);
    bystander.socket.write(framed(encode({ uuid: 'still', http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } })));
    expect((await bystander.next()).http_status).toBe(200);
    bystander.socket.destroy();
    expect((await d.request('GET', '/appmesh/readyz')).status).toBe(200);
  });
});

describe('without a certificate: plain TCP on loopback', () => {
  test('serves plain TCP, and a connection that does not authenticate in time is closed', async () => {
    const plain = await startTestDaemon({ tcpPort: 0, logger: new Logger('INFO', (line) => lines.push(line)), env: { APPMESH_Limits_HeadersTimeoutSeconds: '1' } });
    try {
      const { createConnection } = await import('node:net');
      const talk = createConnection({ host: '127.0.0.1', port: plain.daemon.tcp!.port });
      await new Promise<void>((ok) => talk.once('connect', () => ok()));
      const reply = new Promise<Record<string, unknown>>((ok) => talk.once('data', (chunk: Buffer) => ok(decode(chunk.subarray(8)) as Record<string, unknown>)));
      talk.write(framed(encode({ uuid: 'p', http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } })));
      expect((await reply).http_status).toBe(200);
      talk.destroy();

      const silent = createConnection({ host: '127.0.0.1', port: plain.daemon.tcp!.port });
      const started = Date.now();
      await new Promise<void>((ok) => silent.once('close', () => ok()));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(lines.some((line) => line.includes('closed: no authentication in time'))).toBe(true);
    } finally {
      await plain.stop();
    }
  }, 20_000);
});
