import { spawn } from 'node:child_process';
import Fastify from 'fastify';
import { keepAliveClient, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, removeHome, rssMiB, runBench, sleep, startBareServer, startDaemon, stop, trackGroup, QUICK } from './processes.js';
import { median, timeSeries, type Summary } from './stats.js';
import { emitRows, printRows, type Row } from './table.js';

const START_REPEATS = QUICK ? 1 : 3;
const APP_COUNT = 100;
const CALLS = QUICK ? 50 : 200;
const WARMUP = 20;
// Lets the heap and lazily loaded modules settle before RSS is read.
const SETTLE_MS = 1500;

const rows: Row[] = [];
const summary: Record<string, number> = {};

const ms = (v: number) => `${v.toFixed(1)} ms`;
const mib = (v: number) => `${v.toFixed(1)} MiB`;
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
const round = (v: number) => Math.round(v * 100) / 100;

function row(figure: string, value: string, baseline = '-', r = '-'): void {
  rows.push({ figure, value, baseline, ratio: r });
}

async function login(client: HttpClient): Promise<Record<string, string>> {
  const basic = Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
  const res = await client.call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.body}`);
  return { Authorization: `Bearer ${(JSON.parse(res.body) as { access_token: string }).access_token}` };
}

async function expectOk(client: HttpClient, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<string> {
  const res = await client.call(method, path, { headers, body });
  if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
  return res.body;
}

const appName = (prefix: string, i: number) => `${prefix}_${String(i).padStart(3, '0')}`;

/** 1. Spawn to first ready 200: bare node server, daemon on a new home, daemon again on that home. */
async function benchStart(): Promise<void> {
  const bare: number[] = [];
  const first: number[] = [];
  const second: number[] = [];
  // Interleaved so drifting machine load hits all three series alike.
  for (let i = 0; i < START_REPEATS; i++) {
    const server = await startBareServer();
    bare.push(server.startMs);
    await stop(server.child);

    const home = await newHome();
    const a = await startDaemon(home);
    first.push(a.startMs);
    if ((await stop(a.child)) !== 0) throw new Error('the daemon did not exit cleanly on SIGTERM');
    const b = await startDaemon(home);
    second.push(b.startMs);
    await stop(b.child);
    await removeHome(home);
  }
  const base = median(bare);
  row(`daemon start, first (new home, median of ${START_REPEATS})`, ms(median(first)), `${ms(base)} bare node http`, ratio(median(first), base));
  row(`daemon start, second (same home, median of ${START_REPEATS})`, ms(median(second)), `${ms(base)} bare node http`, ratio(median(second), base));
  Object.assign(summary, { start_first_ms: round(median(first)), start_second_ms: round(median(second)), start_bare_node_ms: round(base) });
}

/** 2 and 3. RSS with disabled apps, then syncrun latency on the same daemon; RSS with running apps on a second one. */
async function benchMemoryAndLatency(): Promise<void> {
  const server = await startBareServer();
  await sleep(SETTLE_MS);
  const bareRss = rssMiB(server.pid);
  await stop(server.child);
  const vsBare = (v: number) => [`${mib(bareRss)} bare node http`, ratio(v, bareRss)] as const;

  // Daemon 1: idle, 100 disabled apps, then (apps removed) the syncrun series.
  const home1 = await newHome();
  const d1 = await startDaemon(home1);
  const c1 = keepAliveClient(d1.url);
  try {
    const auth = await login(c1);
    await sleep(SETTLE_MS);
    const idle = rssMiB(d1.pid);
    for (let i = 0; i < APP_COUNT; i++) await expectOk(c1, 'PUT', `/appmesh/app/${appName('bench_off', i)}`, auth, { command: 'sleep 600', status: 0 });
    await sleep(SETTLE_MS);
    const disabled = rssMiB(d1.pid);
    for (let i = 0; i < APP_COUNT; i++) await expectOk(c1, 'DELETE', `/appmesh/app/${appName('bench_off', i)}`, auth);

    row('daemon RSS, idle after start', mib(idle), ...vsBare(idle));
    row(`daemon RSS, ${APP_COUNT} disabled apps`, mib(disabled), ...vsBare(disabled));
    row('  per disabled app', `${(((disabled - idle) * 1024) / APP_COUNT).toFixed(1)} KiB`);
    Object.assign(summary, { rss_bare_node_mib: round(bareRss), rss_idle_mib: round(idle), rss_100_disabled_mib: round(disabled) });

    await benchLatency(c1, auth);
    await sleep(SETTLE_MS);
    const afterRuns = rssMiB(d1.pid);
    row(`daemon RSS, after ${CALLS + WARMUP} syncruns`, mib(afterRuns), ...vsBare(afterRuns));
    summary.rss_after_syncruns_mib = round(afterRuns);
  } finally {
    c1.close();
    await stop(d1.child);
    await removeHome(home1);
  }

  // Daemon 2: a fresh process, so the running-apps figure carries nothing of the runs above.
  const home2 = await newHome();
  const d2 = await startDaemon(home2);
  const c2 = keepAliveClient(d2.url);
  try {
    const auth = await login(c2);
    await sleep(SETTLE_MS);
    const idle = rssMiB(d2.pid);
    for (let i = 0; i < APP_COUNT; i++) await expectOk(c2, 'PUT', `/appmesh/app/${appName('bench_on', i)}`, auth, { command: 'sleep 600' });
    const pids = await waitForRunning(c2, auth);
    await sleep(SETTLE_MS);
    const running = rssMiB(d2.pid);
    let children = 0;
    for (const pid of pids) children += rssMiB(pid);
    row(`daemon RSS, ${APP_COUNT} running apps (sleep 600)`, mib(running), ...vsBare(running));
    row('  per running app', `${(((running - idle) * 1024) / APP_COUNT).toFixed(1)} KiB`, `idle of this daemon ${mib(idle)}`);
    row(`  the ${APP_COUNT} sleep processes themselves`, mib(children), 'outside the daemon');
    Object.assign(summary, { rss_idle2_mib: round(idle), rss_100_running_mib: round(running), rss_100_sleep_children_mib: round(children) });
  } finally {
    c2.close();
    await stop(d2.child);
    await removeHome(home2);
  }
}

async function waitForRunning(client: HttpClient, auth: Record<string, string>): Promise<number[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const apps = JSON.parse(await expectOk(client, 'GET', '/appmesh/applications', auth)) as { name: string; pid?: number }[];
    const pids = apps.filter((app) => app.name.startsWith('bench_on_') && app.pid).map((app) => app.pid!);
    pids.forEach(trackGroup);
    if (pids.length === APP_COUNT) return pids;
    if (Date.now() > deadline) throw new Error(`only ${pids.length} of ${APP_COUNT} apps running`);
    await sleep(100);
  }
}

/** 3. syncrun of `true` against its two components: a bare spawn and a bare fastify round trip. */
async function benchLatency(client: HttpClient, auth: Record<string, string>): Promise<void> {
  let reused = 0;
  const syncrun = await timeSeries(async () => {
    const res = await client.call('POST', '/appmesh/app/syncrun', { headers: auth, body: { command: 'true' } });
    if (res.status !== 200 || res.headers['x-exit-code'] !== '0') throw new Error(`syncrun: ${res.status} exit ${String(res.headers['x-exit-code'])} ${res.body}`);
    if (res.reusedSocket) reused++;
  }, CALLS, WARMUP);
  if (reused < CALLS) throw new Error(`keep-alive not held: ${reused} of ${CALLS + WARMUP} calls reused the connection`);

  const spawnTrue = await timeSeries(
    () =>
      new Promise<void>((resolve, reject) => {
        const child = spawn('true', { stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', () => resolve());
      }),
    CALLS,
    WARMUP,
  );

  const fastify = Fastify({ logger: false });
  fastify.get('/', async () => 'ok');
  const address = await fastify.listen({ host: '127.0.0.1', port: 0 });
  const bare = keepAliveClient(address);
  let http: Summary;
  try {
    http = await timeSeries(async () => {
      const res = await bare.call('GET', '/');
      if (res.status !== 200 || res.body !== 'ok') throw new Error(`fastify baseline: ${res.status}`);
    }, CALLS, WARMUP);
  } finally {
    bare.close();
    await fastify.close();
  }

  row('syncrun `true`, median', ms(syncrun.median), `${ms(spawnTrue.median)} spawn('true')`, ratio(syncrun.median, spawnTrue.median));
  row('syncrun `true`, p95', ms(syncrun.p95), `${ms(spawnTrue.p95)} spawn('true')`, ratio(syncrun.p95, spawnTrue.p95));
  row('syncrun `true`, calls/s', syncrun.perSecond.toFixed(0), `${spawnTrue.perSecond.toFixed(0)} spawn('true')`, ratio(syncrun.perSecond, spawnTrue.perSecond));
  row('syncrun `true`, median', ms(syncrun.median), `${ms(http.median)} bare fastify GET`, ratio(syncrun.median, http.median));
  row('syncrun `true`, p95', ms(syncrun.p95), `${ms(http.p95)} bare fastify GET`, ratio(syncrun.p95, http.p95));
  // What neither a spawn nor an HTTP round trip explains: auth, app registration, output file, removal.
  const rest = syncrun.median - spawnTrue.median - http.median;
  row('  daemon work beyond spawn + HTTP (median)', ms(rest), `${ms(spawnTrue.median)} + ${ms(http.median)}`);
  Object.assign(summary, {
    syncrun_median_ms: round(syncrun.median),
    syncrun_p95_ms: round(syncrun.p95),
    syncrun_per_s: round(syncrun.perSecond),
    spawn_median_ms: round(spawnTrue.median),
    spawn_p95_ms: round(spawnTrue.p95),
    spawn_per_s: round(spawnTrue.perSecond),
    fastify_median_ms: round(http.median),
    fastify_p95_ms: round(http.p95),
    syncrun_over_spawn: round(syncrun.median / spawnTrue.median),
  });
}

function printTable(): void {
  printRows(rows);
  emitRows(rows);
}

async function main(): Promise<void> {
  const began = performance.now();
  await benchStart();
  await benchMemoryAndLatency();
  summary.bench_seconds = round((performance.now() - began) / 1000);
  printTable();
  console.log(`\nsyncrun/spawn (median): ${summary.syncrun_over_spawn}x`);
  console.log(JSON.stringify(summary));
}

await runBench(main);
