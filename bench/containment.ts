// Cost of containment: a syncrun of `true` on a daemon that puts each process tree in a cgroup
// and on one without cgroups (APPMESH_CGROUPS=off), by admin (runs as the daemon) and by a user
// (its own OS account: the launcher drops privileges), next to a bare spawn('true'), in one run.
// Run: npm run build && node dist/bench/containment.js   (not part of npm test)
import { detectCgroups } from '../src/containment/cgroup-detect.js';
import { keepAliveClient, loginAs, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, spawnTrue, startDaemon, stop, type Started, QUICK } from './processes.js';
import { interleaved, type Call, type Summary } from './stats.js';
import { ms, perSecond, ratio, round, Table } from './table.js';

const CALLS = QUICK ? 30 : 100;
const WARMUP = 10;
const ROUNDS = QUICK ? 2 : 5;
const USER = 'bench-contained';
const USER_PASSWORD = 'Bench-Contained-Pass-1';

const table = new Table();
const summary: Record<string, number> = {};

function syncrun(client: HttpClient, token: string): Call {
  return async () => {
    const res = await client.call('POST', '/appmesh/app/syncrun', { headers: { Authorization: `Bearer ${token}` }, body: { command: 'true' } });
    if (res.status !== 200 || res.headers['x-exit-code'] !== '0') throw new Error(`syncrun: ${res.status} exit ${String(res.headers['x-exit-code'])} ${res.body}`);
  };
}

/** A daemon on a new home; `cgroups: false` starts it with APPMESH_CGROUPS=off. */
async function daemonWith(cgroups: boolean): Promise<{ daemon: Started; home: string; mode: string; admin: string; user: string; clients: HttpClient[] }> {
  const home = await newHome();
  const previous = process.env.APPMESH_CGROUPS;
  if (!cgroups) process.env.APPMESH_CGROUPS = 'off';
  let daemon: Started;
  try {
    daemon = await startDaemon(home);
  } finally {
    if (previous === undefined) delete process.env.APPMESH_CGROUPS;
    else process.env.APPMESH_CGROUPS = previous;
  }
  const setup = keepAliveClient(daemon.url);
  const admin = await loginAs(setup, 'admin', ADMIN_PASSWORD);
  const created = await setup.call('PUT', `/appmesh/user/${USER}`, { headers: { Authorization: `Bearer ${admin}` }, body: { key: USER_PASSWORD, group: USER, roles: ['shell', 'view'] } });
  if (created.status !== 200) throw new Error(`user: ${created.status} ${created.body}`);
  const user = await loginAs(setup, USER, USER_PASSWORD);
  const resources = await setup.call('GET', '/appmesh/resources', { headers: { Authorization: `Bearer ${admin}` } });
  const mode = (JSON.parse(resources.body) as { containment?: { cgroups?: { mode?: string } } }).containment?.cgroups?.mode ?? 'unknown';
  setup.close();
  return { daemon, home, mode, admin, user, clients: [keepAliveClient(daemon.url), keepAliveClient(daemon.url)] };
}

async function main(): Promise<void> {
  const began = performance.now();
  const on = await daemonWith(true);
  const off = await daemonWith(false);
  try {
    const s = await interleaved(
      {
        onAdmin: syncrun(on.clients[0], on.admin),
        offAdmin: syncrun(off.clients[0], off.admin),
        onUser: syncrun(on.clients[1], on.user),
        offUser: syncrun(off.clients[1], off.user),
        spawnTrue,
      },
      { count: CALLS, warmup: WARMUP, rounds: ROUNDS },
    );
    const vs = (label: string, a: Summary, baseLabel: string, b: Summary) => {
      table.row(`${label}, median`, ms(a.median), `${ms(b.median)} ${baseLabel}`, ratio(a.median, b.median));
      table.row(`${label}, p95`, ms(a.p95), `${ms(b.p95)} ${baseLabel}`, ratio(a.p95, b.p95));
      table.row(`${label}, calls/s`, perSecond(a.perSecond), `${perSecond(b.perSecond)} ${baseLabel}`, ratio(a.perSecond, b.perSecond));
    };
    const spawnLabel = "spawn('true')";
    vs(`syncrun as admin, cgroups ${on.mode}`, s.onAdmin, spawnLabel, s.spawnTrue);
    vs('syncrun as admin, cgroups off', s.offAdmin, spawnLabel, s.spawnTrue);
    vs(`syncrun as a user, cgroups ${on.mode}`, s.onUser, spawnLabel, s.spawnTrue);
    vs('syncrun as a user, cgroups off', s.offUser, spawnLabel, s.spawnTrue);
    table.row('  cgroup per start as admin (median)', ms(s.onAdmin.median - s.offAdmin.median));
    table.row('  cgroup per start as a user (median)', ms(s.onUser.median - s.offUser.median));
    const series = { on_admin: s.onAdmin, off_admin: s.offAdmin, on_user: s.onUser, off_user: s.offUser, spawn_true: s.spawnTrue };
    for (const [key, x] of Object.entries(series)) {
      Object.assign(summary, { [`${key}_median_ms`]: round(x.median), [`${key}_p95_ms`]: round(x.p95), [`${key}_per_s`]: round(x.perSecond) });
    }
    summary.on_admin_over_spawn_true = round(s.onAdmin.median / s.spawnTrue.median);
    summary.off_admin_over_spawn_true = round(s.offAdmin.median / s.spawnTrue.median);
    summary.on_user_over_spawn_true = round(s.onUser.median / s.spawnTrue.median);
    summary.off_user_over_spawn_true = round(s.offUser.median / s.spawnTrue.median);
  } finally {
    for (const side of [on, off]) {
      for (const client of side.clients) client.close();
      await stop(side.daemon.child);
      await removeHome(side.home);
    }
  }
  summary.bench_seconds = round((performance.now() - began) / 1000);
  const detected = detectCgroups();
  console.log(`${CALLS} sequential calls of each after ${WARMUP} warm-up, interleaved in ${ROUNDS} slices; cgroups here: ${detected.mode}${detected.mode === 'none' ? ` (${detected.reason})` : ''}`);
  table.print();
  console.log(JSON.stringify(summary));
}

await runBench(main);
