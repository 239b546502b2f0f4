import { decode, encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { Logger } from '../src/util/log.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const SUBSCRIBERS = 200;
// Below 1 MiB: what the supervisor reads of a finished run at once.
const LINES = 12_000;
const UNREAD_BOUND = 64 * 1024;

const lines: string[] = [];
let d: TestDaemon;
let wsUrl: string;

beforeAll(async () => {
  d = await startTestDaemon({
    webSocketPort: 0,
    logger: new Logger('INFO', (line) => lines.push(line)),
    env: { APPMESH_Limits_MaxSubscriptionsPerUser: '1000', APPMESH_Limits_MaxUnreadEventBytes: String(UNREAD_BOUND) },
  });
  wsUrl = `ws://127.0.0.1:${d.daemon.webSocket!.port}/`;
}, 30_000);
afterAll(async () => {
  await d?.stop();
});

interface Subscriber {
  ws: WebSocket;
  output: string[];
  sequences: number[];
  positions: number[];
  exited: boolean;
}

async function subscriber(app: string): Promise<Subscriber> {
  const ws = new WebSocket(wsUrl, 'appmesh-ws');
  await new Promise<void>((ok, fail) => ws.once('open', ok).once('error', fail));
  ws.on('error', () => undefined);
  const s: Subscriber = { ws, output: [], sequences: [], positions: [], exited: false };
  const subscribed = new Promise<void>((ok) => {
    ws.on('message', (data: Buffer) => {
      const message = decode(data) as Record<string, unknown>;
      if (message.request_uri !== '/appmesh/event') {
        expect(message.http_status).toBe(200);
        ok();
        return;
      }
      const event = JSON.parse(Buffer.from(message.body as Uint8Array).toString()) as { event_type: string; sequence: number; data: { output: string; position: number } };
      s.sequences.push(event.sequence);
      if (event.event_type === 'STDOUT') {
        s.output.push(event.data.output);
        s.positions.push(event.data.position);
      }
      if (event.event_type === 'EXIT') s.exited = true;
    });
  });
  ws.send(encode({ uuid: 'sub', http_method: 'POST', request_uri: `/appmesh/app/${app}/subscribe`, headers: { Authorization: d.token }, query: { events: 'STDOUT,EXIT' } }));
  await subscribed;
  return s;
}

/**
 * A subscriber that never reads: a bare socket (the ws client would resume its socket itself),
 * so the daemon's writes fill the kernel's buffers, then its own queue.
 */
async function stalledSubscriber(app: string): Promise<{ socket: Socket }> {
  const { port } = d.daemon.webSocket!;
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((ok, fail) => socket.once('connect', ok).once('error', fail));
  socket.on('error', () => undefined);
  socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: appmesh-ws\r\n\r\n`);
  await new Promise<void>((ok) => socket.once('data', () => ok()));
  const payload = Buffer.from(encode({ uuid: 'sub', http_method: 'POST', request_uri: `/appmesh/app/${app}/subscribe`, headers: { Authorization: d.token }, query: { events: 'STDOUT' } }));
  // A masked binary frame (clients must mask), 16-bit length.
  const mask = Buffer.from([1, 2, 3, 4]);
  const header = Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  socket.write(Buffer.concat([header, mask, payload.map((byte, i) => byte ^ mask[i % 4]!)]));
  await new Promise((ok) => setTimeout(ok, 200));
  socket.pause();
  return { socket };
}

describe('many subscribers on one busy app', () => {
  test(`${SUBSCRIBERS} subscribers each receive every STDOUT event in order; a stalled one slows none`, async () => {
    const app = 'busy';
    const command = `sh -c 'i=0; while [ $i -lt ${LINES} ]; do echo "line-$i-padding-padding-padding-padding-padding-padding"; i=$((i+1)); done'`;
    expect((await d.request('PUT', `/appmesh/app/${app}`, { body: { command, status: 0 } })).status).toBe(200);
    const subscribers = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => subscriber(app)));
    const stalled = await stalledSubscriber(app);
    const heapBefore = process.memoryUsage().heapUsed;
    const started = Date.now();
    expect((await d.request('POST', `/appmesh/app/${app}/enable`)).status).toBe(200);
    await expect.poll(() => subscribers.every((s) => s.exited), { timeout: 50_000, interval: 200 }).toBe(true);
    const elapsedMs = Date.now() - started;
    const heapGrowthMB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;

    const expected = Array.from({ length: LINES }, (_, i) => `line-${i}-padding-padding-padding-padding-padding-padding\n`).join('');
    for (const s of subscribers) {
      const got = s.output.join('');
      if (got !== expected) console.log('len', got.length, expected.length, JSON.stringify(got.slice(-120)), s.positions.slice(-3));
      expect(got).toBe(expected);
      for (let i = 1; i < s.sequences.length; i++) expect(s.sequences[i]!).toBeGreaterThan(s.sequences[i - 1]!);
      let next = 0;
      for (let i = 0; i < s.positions.length; i++) {
        expect(s.positions[i]).toBe(next);
        next += Buffer.byteLength(s.output[i]!);
      }
    }
    console.log(`${SUBSCRIBERS} subscribers, ${expected.length} bytes of output each: ${elapsedMs} ms, ${subscribers[0]!.output.length} STDOUT events each, heap growth ${heapGrowthMB.toFixed(1)} MB`);
    for (const s of subscribers) s.ws.close();
    stalled.socket.destroy();
  }, 60_000);

  test('a stalled subscriber is closed as a slow consumer once its unread events pass the bound; a reader beside it gets everything', async () => {
    const app = 'flood';
    // About 8 MB over some seconds (below the 1 MiB the supervisor reads per 100 ms): more than
    // the kernel's socket buffers hold for a reader that never read.
    const command = `sh -c 'for i in $(seq 8); do dd if=/dev/zero bs=1000000 count=1 2>/dev/null | tr -c x x; sleep 0.15; done'`;
    expect((await d.request('PUT', `/appmesh/app/${app}`, { body: { command, status: 0 } })).status).toBe(200);
    const reader = await subscriber(app);
    const stalled = await stalledSubscriber(app);
    expect((await d.request('POST', `/appmesh/app/${app}/enable`)).status).toBe(200);
    await expect.poll(() => reader.exited, { timeout: 35_000, interval: 200 }).toBe(true);
    expect(reader.output.join('')).toBe('x'.repeat(8_000_000));
    // (A paused socket does not see its end: the daemon's log tells.)
    await expect.poll(() => lines.some((line) => /WebSocket connection from .* closed: slow consumer: more than 65536 bytes of events unread/.test(line)), { timeout: 5000 }).toBe(true);
    reader.ws.close();
    stalled.socket.destroy();
  }, 50_000);
});
