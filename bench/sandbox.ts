// Cost of the isolated sandbox: a syncrun of `true` by a user (its own OS account on a root
// daemon) with `sandbox: isolated` (bubblewrap) and without, next to a bare spawn('true'), in one run.
// Run: npm run build && node dist/bench/sandbox.js   (not part of npm test)
import { sandboxSupport } from '../src/containment/sandbox.js';
import { keepAliveClient, loginAs, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, spawnTrue, startDaemon, stop, QUICK } from './processes.js';
import { interleaved, type Call, type Summary } from './stats.js';
import { ms, perSecond, ratio, round, Table } from './table.js';

const CALLS = QUICK ? 30 : 100;
const WARMUP = 10;
const ROUNDS = QUICK ? 2 : 5;
const USER = 'bench-sandbox';
const USER_PASSWORD = 'Bench-Sandbox-Pass-1';

const table = new Table();
const summary: Record<string, number> = {};

function syncrun(client: HttpClient, token: string, body: Record<string, unknown>): Call {
  return async () => {
    const res = await client.call('POST', '/appmesh/app/syncrun', { headers: { Authorization: `Bearer ${token}` }, body });
    if (res.status !== 200 || res.headers['x-exit-code'] !== '0') throw new Error(`syncrun: ${res.status} exit ${String(res.headers['x-exit-code'])} ${res.body}`);
  };
}

async function main(): Promise<void> {
  const support = sandboxSupport();
  if (!support.available) {
    console.log(`isolated sandbox unavailable, nothing to measure: ${support.reason}`);
    return;
  }
  const began = performance.now();
  const home = await newHome();
  const daemon = await startDaemon(home);
  const setup = keepAliveClient(daemon.url);
  const plainClient = keepAliveClient(daemon.url);
  const isolatedClient = keepAliveClient(daemon.url);
  try {
    const admin = await loginAs(setup, 'admin', ADMIN_PASSWORD);
    const created = await setup.call('PUT', `/appmesh/user/${USER}`, {
      headers: { Authorization: `Bearer ${admin}` },
      body: { key: USER_PASSWORD, group: USER, roles: ['shell', 'view'] },
    });
    if (created.status !== 200) throw new Error(`user: ${created.status} ${created.body}`);
    const token = await loginAs(setup, USER, USER_PASSWORD);
    const s = await interleaved(
      {
        isolated: syncrun(isolatedClient, token, { command: 'true', sandbox: 'isolated' }),
        plain: syncrun(plainClient, token, { command: 'true', sandbox: 'none' }),
        spawnTrue,
      },
      { count: CALLS, warmup: WARMUP, rounds: ROUNDS },
    );
    const vs = (label: string, a: Summary, baseLabel: string, b: Summary) => {
      table.row(`${label}, median`, ms(a.median), `${ms(b.median)} ${baseLabel}`, ratio(a.median, b.median));
      table.row(`${label}, p95`, ms(a.p95), `${ms(b.p95)} ${baseLabel}`, ratio(a.p95, b.p95));
      table.row(`${label}, calls/s`, perSecond(a.perSecond), `${perSecond(b.perSecond)} ${baseLabel}`, ratio(a.perSecond, b.perSecond));
    };
    vs('syncrun sandbox:isolated', s.isolated, "spawn('true')", s.spawnTrue);
    vs('syncrun sandbox:none', s.plain, "spawn('true')", s.spawnTrue);
    vs('syncrun sandbox:isolated', s.isolated, 'syncrun sandbox:none', s.plain);
    table.row('  bubblewrap per start (median)', ms(s.isolated.median - s.plain.median));
    for (const [key, x] of [['isolated', s.isolated], ['plain', s.plain], ['spawn_true', s.spawnTrue]] as const) {
      Object.assign(summary, { [`${key}_median_ms`]: round(x.median), [`${key}_p95_ms`]: round(x.p95), [`${key}_per_s`]: round(x.perSecond) });
    }
    summary.isolated_over_spawn_true = round(s.isolated.median / s.spawnTrue.median);
    summary.isolated_over_plain = round(s.isolated.median / s.plain.median);
  } finally {
    setup.close();
    plainClient.close();
    isolatedClient.close();
    await stop(daemon.child);
    await removeHome(home);
  }
  summary.bench_seconds = round((performance.now() - began) / 1000);
  console.log(`${CALLS} sequential calls of each after ${WARMUP} warm-up, interleaved in ${ROUNDS} slices; ${support.version ?? 'bubblewrap'}`);
  table.print();
  console.log(JSON.stringify(summary));
}

await runBench(main);
