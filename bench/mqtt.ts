import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { keepAliveClient, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, freePort, newHome, removeHome, runBench, startDaemon, stop, QUICK } from './processes.js';
import { emitRows, ms, perSecond, ratio, type Row } from './table.js';
import { interleaved, type Call, type Summary } from './stats.js';

// The same call over both faces: GET /appmesh/applications, on a daemon with a few apps.
const PATH = '/appmesh/applications';
const APPS = 10;
const CALLS = QUICK ? 250 : 1000;
const WARMUP = 100;
const CONCURRENCY = 16;
const NODE = 'bench';

/** One MQTT device: requests on the node's request topic, replies matched by uuid. */
class MqttCaller {
  private readonly waiting = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  private readonly replyTopic: string;

  private constructor(private readonly client: MqttClient, private readonly token: string) {
    this.replyTopic = `appmesh/${NODE}/reply/admin/${client.options.clientId}`;
    client.on('message', (_topic, payload) => {
      const reply = JSON.parse(payload.toString()) as { uuid: string; http_status: number };
      const waiter = this.waiting.get(reply.uuid);
      this.waiting.delete(reply.uuid);
      if (reply.http_status === 200) waiter?.resolve();
      else waiter?.reject(new Error(`MQTT reply ${reply.http_status}`));
    });
  }

  static async connect(url: string, token: string): Promise<MqttCaller> {
    const client = await mqtt.connectAsync(url, { username: 'admin', password: token, reconnectPeriod: 0 });
    // As a latency-minded device would: small packets leave at once (no Nagle).
    (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    const caller = new MqttCaller(client, token);
    await client.subscribeAsync(caller.replyTopic, { qos: 1 });
    return caller;
  }

  call: Call = () => {
    const uuid = randomUUID();
    const done = new Promise<void>((resolve, reject) => this.waiting.set(uuid, { resolve, reject }));
    const message = { uuid, http_method: 'GET', request_uri: PATH, headers: { Authorization: `Bearer ${this.token}` }, reply_to: this.replyTopic };
    this.client.publish(`appmesh/${NODE}/request`, JSON.stringify(message), { qos: 1 });
    return done;
  };

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

function httpCall(client: HttpClient, token: string): Call {
  return async () => {
    const response = await client.call('GET', PATH, { headers: { Authorization: `Bearer ${token}` } });
    if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
  };
}

function print(title: string, results: Record<'http' | 'mqtt', Summary>): void {
  const f = (v: number) => v.toFixed(2).padStart(9);
  const r = (v: number) => v.toFixed(0).padStart(9);
  console.log(`\n${title}`);
  console.log('face   median ms    p95 ms      req/s');
  console.log(`HTTP   ${f(results.http.median)} ${f(results.http.p95)}  ${r(results.http.perSecond)}`);
  console.log(`MQTT   ${f(results.mqtt.median)} ${f(results.mqtt.p95)}  ${r(results.mqtt.perSecond)}`);
}

async function main(): Promise<void> {
  const home = await newHome();
  const mqttPort = await freePort();
  // The spawned daemon takes its settings from the environment (startDaemon passes it on).
  process.env.APPMESH_MQTT_EmbeddedBrokerPort = String(mqttPort);
  process.env.APPMESH_MQTT_NodeId = NODE;
  const daemon = await startDaemon(home);
  const http1 = keepAliveClient(daemon.url);
  const httpN = keepAliveClient(daemon.url, CONCURRENCY);
  let device: MqttCaller | undefined;
  try {
    const basic = Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
    const login = await http1.call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
    const token = (JSON.parse(login.body) as { access_token: string }).access_token;
    const auth = { Authorization: `Bearer ${token}` };
    for (let i = 0; i < APPS; i++) await http1.call('PUT', `/appmesh/app/bench_${i}`, { headers: auth, body: { command: 'sleep 600', status: 0 } });
    const size = (await http1.call('GET', PATH, { headers: auth })).body.length;
    device = await MqttCaller.connect(`mqtt://127.0.0.1:${mqttPort}`, token);

    const sequential = await interleaved({ http: httpCall(http1, token), mqtt: device.call }, { count: CALLS, warmup: WARMUP });
    const parallel = await interleaved({ http: httpCall(httpN, token), mqtt: device.call }, { count: 4 * CALLS, warmup: WARMUP, concurrency: CONCURRENCY });

    console.log(`GET ${PATH} (${APPS} apps, ${size} bytes): HTTP keep-alive next to MQTT via the embedded broker, one run`);
    print(`${CALLS} calls, one at a time (round-trip latency)`, sequential);
    print(`${4 * CALLS} calls, ${CONCURRENCY} in flight (throughput)`, parallel);
    const round = (v: number) => Math.round(v * 1000) / 1000;
    console.log(`\nMQTT/HTTP median latency: ${(sequential.mqtt.median / sequential.http.median).toFixed(2)}x`);
    const rows: Row[] = [
      { figure: `MQTT GET ${PATH}, median`, value: ms(sequential.mqtt.median), baseline: `${ms(sequential.http.median)} HTTP keep-alive`, ratio: ratio(sequential.mqtt.median, sequential.http.median) },
      { figure: `MQTT GET ${PATH}, ${CONCURRENCY} in flight`, value: perSecond(parallel.mqtt.perSecond), baseline: `${perSecond(parallel.http.perSecond)} HTTP keep-alive`, ratio: ratio(parallel.mqtt.perSecond, parallel.http.perSecond) },
    ];
    emitRows(rows);
    console.log(JSON.stringify({
      http_median_ms: round(sequential.http.median), http_p95_ms: round(sequential.http.p95), http_rps: Math.round(sequential.http.perSecond),
      mqtt_median_ms: round(sequential.mqtt.median), mqtt_p95_ms: round(sequential.mqtt.p95), mqtt_rps: Math.round(sequential.mqtt.perSecond),
      http_rps_parallel: Math.round(parallel.http.perSecond), mqtt_rps_parallel: Math.round(parallel.mqtt.perSecond),
    }));
  } finally {
    http1.close();
    httpN.close();
    await device?.close();
    await stop(daemon.child);
    await removeHome(home);
  }
}

await runBench(main);
