// Requests per second for the same endpoint over HTTP (keep-alive) and over the TCP transport
// (msgpack messages, 8-byte framing), one at a time and 8 in flight, against one daemon in one run.
// Run: npm run build && node dist/bench/transports.js   (not part of npm test)
import { connect, type Socket } from 'node:net';
import { decode, encode } from '@msgpack/msgpack';
import { keepAliveClient, loginAs } from './http-client.js';
import { ADMIN_PASSWORD, freePort, newHome, runBench, startDaemon, QUICK } from './processes.js';
import { perSecond, ratio, Table } from './table.js';

const REQUESTS = QUICK ? 1000 : 4000;
const WARMUP = 300;
const IN_FLIGHT = 8;
const PATH = '/appmesh/applications';
const MAGIC = 0x07c707f8;

/** A TCP transport client: requests matched to replies by uuid, several in flight on one connection. */
async function tcpClient(port: number): Promise<{ call(token: string): Promise<void>; close(): void }> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((ok, fail) => socket.once('connect', ok).once('error', fail));
  socket.setNoDelay(true);
  const pending = new Map<string, (status: number) => void>();
  let buffer: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : Buffer.from(chunk);
    while (buffer.length >= 8 && buffer.length >= 8 + buffer.readUInt32BE(4)) {
      const length = buffer.readUInt32BE(4);
      const reply = decode(buffer.subarray(8, 8 + length)) as { uuid: string; http_status: number };
      buffer = buffer.subarray(8 + length);
      pending.get(reply.uuid)?.(reply.http_status);
      pending.delete(reply.uuid);
    }
  });
  let n = 0;
  return {
    call: (token) =>
      new Promise<void>((ok, fail) => {
        const uuid = String(++n);
        pending.set(uuid, (status) => (status === 200 ? ok() : fail(new Error(`TCP ${PATH}: ${status}`))));
        const body = encode({ uuid, http_method: 'GET', request_uri: PATH, headers: { Authorization: token } });
        const header = Buffer.alloc(8);
        header.writeUInt32BE(MAGIC, 0);
        header.writeUInt32BE(body.length, 4);
        socket.write(Buffer.concat([header, body]));
      }),
    close: () => socket.destroy(),
  };
}

/** Requests per second of `call`, `concurrency` at a time. */
async function rate(call: () => Promise<void>, count: number, concurrency: number): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await call();
  let left = count;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await call();
    }),
  );
  return count / ((performance.now() - t0) / 1000);
}

await runBench(async () => {
  const tcpPort = await freePort();
  const daemon = await startDaemon(await newHome(), { APPMESH_REST_RestTcpPort: String(tcpPort), APPMESH_MQTT_Enabled: 'false', APPMESH_REST_WebSocketPort: '0' });
  const http = keepAliveClient(daemon.url, IN_FLIGHT);
  const token = await loginAs(http, 'admin', ADMIN_PASSWORD);
  const tcp = await tcpClient(tcpPort);
  const httpCall = async () => {
    const res = await http.call('GET', PATH, { headers: { Authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`HTTP ${PATH}: ${res.status}`);
  };
  const tcpCall = () => tcp.call(token);
  const table = new Table();
  for (const concurrency of [1, IN_FLIGHT]) {
    // Alternated, so both see the same machine state.
    const httpRate = await rate(httpCall, REQUESTS, concurrency);
    const tcpRate = await rate(tcpCall, REQUESTS, concurrency);
    table.row(`GET ${PATH}, ${concurrency} at a time: TCP transport`, perSecond(tcpRate), `HTTP keep-alive ${perSecond(httpRate)}`, ratio(tcpRate, httpRate));
  }
  console.log(`TCP transport vs HTTP, ${REQUESTS} requests each, one daemon (plain TCP and HTTP on 127.0.0.1)`);
  table.print();
  tcp.close();
  http.close();
});
