import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import mqtt, { type MqttClient } from 'mqtt';
import { keepAliveClient } from './http-client.js';
import { ADMIN_PASSWORD, cleanup, freePort, newHome, removeHome, startDaemon, stop } from './processes.js';
import { median, timeSeries, type Summary } from './stats.js';

// The same call over both faces: GET /appmesh/applications, on a daemon with a few apps.
const PATH = '/appmesh/applications';
const APPS = 10;
const CALLS = 1000;
const WARMUP = 100;
const CONCURRENCY = 16;
const CONCURRENT_CALLS = 4000;
const NODE = 'bench';

type Call = () => Promise<void>;

/** One MQTT device: requests on the node's request topic, replies matched by uuid. */
class MqttCaller {
  private readonly waiting = new Map<string, () => void>();
  private readonly replyTopic: string;

  private constructor(private readonly client: MqttClient, private readonly token: string) {
    this.replyTopic = `appmesh/${NODE}/reply/admin/${client.options.clientId}`;
    client.on('message', (_topic, payload) => {
      const reply = JSON.parse(payload.toString()) as { uuid: string; http_status: number };
      if (reply.http_status !== 200) throw new Error(`MQTT reply ${reply.http_status}`);
      this.waiting.get(reply.uuid)?.();
      this.waiting.delete(reply.uuid);
    });
  }

  static async connect(url: string, token: string): Promise<MqttCaller> {
    const client = await mqtt.connectAsync(url, { username: 'admin', password: token, reconnectPeriod: 0 });
    const caller = new MqttCaller(client, token);
    await client.subscribeAsync(caller.replyTopic, { qos: 1 });
    return caller;
  }

  call: Call = () => {
    const uuid = randomUUID();
    const done = new Promise<void>((resolve) => this.waiting.set(uuid, resolve));
    const message = { uuid, http_method: 'GET', request_uri: PATH, headers: { Authorization: `Bearer ${this.token}` }, reply_to: this.replyTopic };
    this.client.publish(`appmesh/${NODE}/request`, JSON.stringify(message), { qos: 1 });
    return done;
  };

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** `CONCURRENCY` callers in parallel; requests per second over the whole batch. */
async function throughput(call: Call): Promise<number> {
  let next = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < CONCURRENT_CALLS) await call();
    }),
  );
  return (CONCURRENT_CALLS * 1000) / (performance.now() - begin);
}

function httpCaller(base: string, token: string, sockets: number): { call: Call; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets });
  const url = new URL(base);
  return {
    call: () =>
      new Promise<void>((resolve, reject) => {
        const req = request({ agent, host: url.hostname, port: url.port, path: PATH, headers: { Authorization: `Bearer ${token}` } }, (res) => {
          if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      }),
    close: () => agent.destroy(),
  };
}

async function main(): Promise<void> {
  const home = await newHome();
  const mqttPort = await freePort();
  // The spawned daemon takes its settings from the environment (startDaemon passes it on).
  process.env.APPMESH_MQTT_EmbeddedBrokerPort = String(mqttPort);
  process.env.APPMESH_MQTT_NodeId = NODE;
  const daemon = await startDaemon(home);
  try {
    const setup = keepAliveClient(daemon.url);
    const basic = Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
    const login = await setup.call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
    const token = (JSON.parse(login.body) as { access_token: string }).access_token;
    for (let i = 0; i < APPS; i++) {
      await setup.call('PUT', `/appmesh/app/bench_${i}`, { headers: { Authorization: `Bearer ${token}` }, body: { command: 'sleep 600', status: 0 } });
    }
    const body = (await setup.call('GET', PATH, { headers: { Authorization: `Bearer ${token}` } })).body;
    setup.close();

    const http1 = httpCaller(daemon.url, token, 1);
    const httpN = httpCaller(daemon.url, token, CONCURRENCY);
    const device = await MqttCaller.connect(`mqtt://127.0.0.1:${mqttPort}`, token);
    try {
      // Interleaved halves, so drifting machine load hits both faces alike.
      const half = CALLS / 2;
      const series: Record<'http' | 'mqtt', Summary[]> = { http: [], mqtt: [] };
      for (let round = 0; round < 2; round++) {
        series.http.push(await timeSeries(http1.call, half, WARMUP));
        series.mqtt.push(await timeSeries(device.call, half, WARMUP));
      }
      const merge = (s: Summary[]) => ({ median: median(s.map((x) => x.median)), p95: Math.max(...s.map((x) => x.p95)), perSecond: s.reduce((a, x) => a + x.perSecond, 0) / s.length });
      const http = merge(series.http);
      const overMqtt = merge(series.mqtt);
      const httpParallel = await throughput(httpN.call);
      const mqttParallel = await throughput(device.call);

      const f = (v: number) => v.toFixed(2).padStart(9);
      const r = (v: number) => v.toFixed(0).padStart(9);
      console.log(`GET ${PATH} (${APPS} apps, ${body.length} bytes), ${CALLS} sequential calls after ${WARMUP} warm-up, then ${CONCURRENT_CALLS} with ${CONCURRENCY} in flight`);
      console.log(`face   median ms    p95 ms   req/s seq  req/s x${CONCURRENCY}`);
      console.log(`HTTP   ${f(http.median)} ${f(http.p95)}   ${r(http.perSecond)}  ${r(httpParallel)}`);
      console.log(`MQTT   ${f(overMqtt.median)} ${f(overMqtt.p95)}   ${r(overMqtt.perSecond)}  ${r(mqttParallel)}`);
      console.log(`MQTT/HTTP median latency: ${(overMqtt.median / http.median).toFixed(2)}x`);
      console.log(JSON.stringify({
        http_median_ms: +http.median.toFixed(3), http_p95_ms: +http.p95.toFixed(3), http_rps: Math.round(http.perSecond), http_rps_parallel: Math.round(httpParallel),
        mqtt_median_ms: +overMqtt.median.toFixed(3), mqtt_p95_ms: +overMqtt.p95.toFixed(3), mqtt_rps: Math.round(overMqtt.perSecond), mqtt_rps_parallel: Math.round(mqttParallel),
      }));
    } finally {
      http1.close();
      httpN.close();
      await device.close();
    }
  } finally {
    await stop(daemon.child);
    await removeHome(home);
  }
}

try {
  await main();
} catch (error) {
  console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
