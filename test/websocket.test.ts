import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { Logger } from '../src/util/log.js';
import { ADMIN_PASSWORD, login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

type Message = Record<string, unknown>;

const lines: string[] = [];
let d: TestDaemon;
let wsUrl: string;

beforeAll(async () => {
  d = await startTestDaemon({ webSocketPort: 0, logger: new Logger('INFO', (line) => lines.push(line)) });
  wsUrl = `ws://127.0.0.1:${d.daemon.webSocket!.port}/`;
}, 30_000);
afterAll(async () => {
  await d?.stop();
});

/** A `ws` client speaking appmesh-ws: one binary message = one msgpack map; replies matched by uuid. */
async function open(): Promise<{ ws: WebSocket; closed: Promise<number>; call(request: Message): Promise<Message>; events: Message[] }> {
  const ws = new WebSocket(wsUrl, 'appmesh-ws');
  await new Promise<void>((ok, fail) => ws.once('open', ok).once('error', fail));
  const closed = new Promise<number>((ok) => ws.once('close', (code) => ok(code)));
  const pending = new Map<string, (message: Message) => void>();
  const events: Message[] = [];
  ws.on('message', (data: Buffer) => {
    const message = decode(data) as Message;
    if (message.request_uri === '/appmesh/event') events.push(message);
    else pending.get(String(message.uuid))?.(message);
  });
  let n = 0;
  return {
    ws,
    closed,
    events,
    call: (request) =>
      new Promise((ok) => {
        const uuid = `r${++n}`;
        pending.set(uuid, ok);
        ws.send(encode({ uuid, ...request }));
      }),
  };
}

const json = (message: Message): Record<string, unknown> => JSON.parse(Buffer.from(message.body as Uint8Array).toString()) as Record<string, unknown>;
const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

describe('WebSocket transport (subprotocol appmesh-ws, msgpack)', () => {
  test('logs in, lists apps, runs a command, subscribes and receives START, STDOUT and EXIT', async () => {
    const c = await open();
    expect(c.ws.protocol).toBe('appmesh-ws');
    const login = await c.call({ http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: basic } });
    expect(login.http_status).toBe(200);
    const token = String(json(login).access_token);
    const headers = { Authorization: `Bearer ${token}` };
    const apps = await c.call({ http_method: 'GET', request_uri: '/appmesh/applications', headers });
    expect(Array.isArray(JSON.parse(Buffer.from(apps.body as Uint8Array).toString()))).toBe(true);
    const run = await c.call({ http_method: 'POST', request_uri: '/appmesh/app/syncrun', headers, query: { timeout: 30 }, body: Buffer.from(JSON.stringify({ command: 'echo over-ws' })) });
    expect(run.http_status).toBe(200);
    expect(Buffer.from(run.body as Uint8Array).toString()).toContain('over-ws');
    expect((run.headers as Record<string, string>)['x-exit-code']).toBe('0');

    const app = await c.call({ http_method: 'PUT', request_uri: '/appmesh/app/ws-watched', headers, query: { subscribe_events: 'START,STDOUT,EXIT' }, body: Buffer.from(JSON.stringify({ command: 'sh -c "echo ws-line; sleep 0.2"' })) });
    expect(app.http_status).toBe(200);
    const id = json(app).subscription_id;
    await expect.poll(() => c.events.some((e) => (e.headers as Record<string, string>)['X-Event-Type'] === 'EXIT'), { timeout: 15_000 }).toBe(true);
    const events = c.events.map((e) => JSON.parse(Buffer.from(e.body as Uint8Array).toString()) as { event_type: string; subscription_id: string; data: { output?: string } });
    expect(events[0]!.event_type).toBe('START');
    expect(events.filter((e) => e.event_type === 'STDOUT').map((e) => e.data.output).join('')).toContain('ws-line');
    expect(events.every((e) => e.subscription_id === id)).toBe(true);
    c.ws.close();
  });

  test('a file both ways: the reply carries a short file token, the bytes go over HTTP on the same port', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'appmesh-ws-files-'));
    const content = randomBytes(2 * 1024 * 1024 + 5);
    const remote = join(scratch, 'remote.bin');
    const c = await open();
    const headers = { Authorization: d.token };
    const httpBase = wsUrl.replace('ws://', 'http://');

    const up = await c.call({ http_method: 'POST', request_uri: '/appmesh/file/upload', headers: { ...headers, 'X-File-Path': encodeURIComponent(remote), 'X-Send-File-Socket': 'true' } });
    expect(up.http_status).toBe(200);
    const upToken = (up.headers as Record<string, string>).Authorization!;
    const put = await fetch(`${httpBase}appmesh/file/upload/ws`, { method: 'POST', headers: { Authorization: upToken, 'X-File-Path': remote, 'X-File-Mode': String(0o640) }, body: content });
    expect(put.status).toBe(201);
    expect(await put.json()).toEqual({ status: 'success', file: 'remote.bin', size: content.length });
    expect((await stat(remote)).mode & 0o777).toBe(0o640);

    const down = await c.call({ http_method: 'GET', request_uri: '/appmesh/file/download', headers: { ...headers, 'X-File-Path': encodeURIComponent(remote), 'X-Recv-File-Socket': 'true' } });
    expect(down.http_status).toBe(200);
    const downToken = (down.headers as Record<string, string>).Authorization!;
    const got = await fetch(`${httpBase}appmesh/file/download/ws`, { headers: { Authorization: downToken, 'X-File-Path': remote } });
    expect(got.status).toBe(200);
    expect(got.headers.get('x-file-mode')).toBe(String(0o640));
    const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
    expect(digest(new Uint8Array(await got.arrayBuffer()))).toBe(digest(content));
    expect(digest(await readFile(remote))).toBe(digest(content));
    await writeFile(join(scratch, 'unused'), '');

    // The file token is for files only, and a service token is no file token.
    expect((await fetch(`${httpBase}appmesh/applications`, { headers: { Authorization: `Bearer ${downToken}` } })).status).toBe(401);
    expect((await fetch(`${httpBase}appmesh/file/download/ws`, { headers: { Authorization: d.token, 'X-File-Path': remote } })).status).toBe(401);
    c.ws.close();
  });

  test('the REST API is served on the same port', async () => {
    const response = await fetch(`${wsUrl.replace('ws://', 'http://')}appmesh/readyz`);
    expect(response.status).toBe(200);
  });

  test('garbage msgpack and oversized messages close that connection with a logged reason; others serve on', async () => {
    const bystander = await open();
    const garbage = await open();
    garbage.ws.send(Buffer.from([0xc1, 0xc1]));
    expect(await garbage.closed).toBe(1007);
    const big = await open();
    big.ws.send(Buffer.alloc(8 * 1024 * 1024));
    expect(await big.closed).toBe(1009);
    expect(lines.some((line) => /WebSocket connection from .* closed: not a msgpack message/.test(line))).toBe(true);
    expect((await bystander.call({ http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: basic } })).http_status).toBe(200);
    bystander.ws.close();
  });

  test('the ACL applies at each delivery: a subscriber whose role loses app-subscribe gets no further events', async () => {
    expect((await d.request('POST', '/appmesh/role/watchers', { body: ['app-subscribe', 'app-view'] })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/user/watcher', { body: { key: 'Watcher-Password-1', group: 'watchers', roles: ['watchers'] } })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/app/acl-watched', { body: { command: 'sh -c "echo run"', permission: 22, status: 0 } })).status).toBe(200);
    const token = await login(d.url, 'watcher', 'Watcher-Password-1');
    const c = await open();
    const sub = await c.call({ http_method: 'POST', request_uri: '/appmesh/app/acl-watched/subscribe', headers: { Authorization: token }, query: { events: 'START,EXIT' } });
    expect(sub.http_status).toBe(200);
    expect((await d.request('POST', '/appmesh/app/acl-watched/enable')).status).toBe(200);
    await expect.poll(() => c.events.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect((await d.request('POST', '/appmesh/app/acl-watched/disable')).status).toBe(200);
    // The role no longer grants app-subscribe: the next run's events must not reach the watcher.
    expect((await d.request('POST', '/appmesh/role/watchers', { body: ['app-view'] })).status).toBe(200);
    const admin = await open();
    await admin.call({ http_method: 'POST', request_uri: '/appmesh/app/acl-watched/subscribe', headers: { Authorization: d.token }, query: { events: 'EXIT' } });
    const seen = c.events.length;
    expect((await d.request('POST', '/appmesh/app/acl-watched/enable')).status).toBe(200);
    await expect.poll(() => admin.events.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(c.events.length).toBe(seen);
    c.ws.close();
    admin.ws.close();
  });

  test('a subscription ends with its token: after logoff no further events reach it', async () => {
    expect((await d.request('PUT', '/appmesh/app/logoff-watched', { body: { command: 'sh -c "echo run"', status: 0 } })).status).toBe(200);
    const token = await login(d.url, 'admin', ADMIN_PASSWORD);
    const c = await open();
    expect((await c.call({ http_method: 'POST', request_uri: '/appmesh/app/logoff-watched/subscribe', headers: { Authorization: token }, query: { events: 'EXIT' } })).http_status).toBe(200);
    expect((await fetch(`${d.url}/appmesh/self/logoff`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    const witness = await open();
    await witness.call({ http_method: 'POST', request_uri: '/appmesh/app/logoff-watched/subscribe', headers: { Authorization: d.token }, query: { events: 'EXIT' } });
    expect((await d.request('POST', '/appmesh/app/logoff-watched/enable')).status).toBe(200);
    await expect.poll(() => witness.events.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(c.events).toHaveLength(0);
    c.ws.close();
    witness.ws.close();
  });

  test('a connection without the appmesh-ws subprotocol is refused', async () => {
    const ws = new WebSocket(wsUrl);
    const outcome = await new Promise<string>((ok) => {
      ws.once('open', () => ok('open'));
      ws.once('error', () => ok('refused'));
    });
    expect(outcome).toBe('refused');
  });
});
