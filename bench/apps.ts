// Many supervised apps: N `sleep` apps registered through REST against the daemon in its own
// process, next to a bare Node process that spawns the same N sleeps. Figures: RSS once all run (2 s later, and once settled),
// time to start all (first registration until every process exists), time to stop all (one bulk
// disable call until no process is left; and N single DELETEs, as a client without the bulk call
// does it) and idle CPU over a window with twice as many apps.
// Run alone: npm run build && node dist/bench/apps.js [--quick]
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keepAliveClient, loginAs, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, sleep, startDaemon, stop, rssMiB } from './processes.js';
import { printRows, ratio, round } from './table.js';

/** A row as the one bench table takes it: numbers, the unit and the baseline of the same run. */
export interface AppsRow {
  figure: string;
  value: number;
  unit: string;
  baseline: number;
  baselineLabel: string;
}

const CONNECTIONS = 16;
const CLOCK_TICKS = 100;
/** Before the idle window: the one-off work after a burst of changes (syncing the stored files) is done. */
const SETTLE_MS = 8000;

interface Sizes {
  /** Between the end of the burst's one-off work and the idle window. */
  afterBurstMs: number;
  apps: number;
  idleApps: number;
  idleSeconds: number;
}

const FULL: Sizes = { afterBurstMs: 25_000, apps: 500, idleApps: 1000, idleSeconds: 10 };
const QUICK: Sizes = { afterBurstMs: 5_000, apps: 100, idleApps: 200, idleSeconds: 3 };

/** Stop all is measured this many times on each side (the median counts). */
const STOP_ROUNDS = 3;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A sleep duration nobody else uses: the bench finds its own processes by their argv. */
function uniqueMark(): string {
  return String(1_000_000 + Math.floor(Math.random() * 8_000_000));
}

/** How many processes run exactly `sleep <mark>`. */
function countSleeps(mark: string): number {
  const wanted = `sleep\0${mark}\0`;
  let count = 0;
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1') === wanted) count++;
    } catch {
      // Gone meanwhile.
    }
  }
  return count;
}

function killSleeps(mark: string): void {
  const wanted = `sleep\0${mark}\0`;
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1') === wanted) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function idleCpuPercent(pid: number, seconds: number): Promise<number> {
  const before = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  return ((cpuSeconds(pid) - before) / ((performance.now() - t0) / 1000)) * 100;
}

/** Runs `count` calls with CONNECTIONS in flight. */
async function inParallel(count: number, call: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < count) await call(next++);
    }),
  );
}

interface Figures {
  /** 2 s after every process runs: the burst's garbage still in the heap. */
  rssMiB: number;
  /** Once the burst's after-effects are over (`afterBurstMs` later): what holding the apps costs. */
  settledRssMiB: number;
  startMs: number;
  /** One bulk call (disable all) until no process is left. */
  stopMs: number;
  /** The same call until its answer (every stop complete and the change durable; 0 for the bare spawner). */
  stopAnsweredMs: number;
  /** One DELETE per app until no process is left (the daemon only; 0 for the bare spawner). */
  stopPerAppMs: number;
  /** As many authenticated no-op requests as the stop makes, on its connections (the daemon only; 0 for the bare spawner). */
  viewAllMs: number;
  idleCpuPercent: number;
}

async function measureDaemon(sizes: Sizes): Promise<Figures> {
  const home = await newHome();
  const daemon = await startDaemon(home, {
    APPMESH_Limits_MaxAppsPerUser: String(sizes.idleApps * 2),
    APPMESH_Limits_MaxProcessesPerUser: String(sizes.idleApps * 4),
  });
  const client: HttpClient = keepAliveClient(daemon.url, CONNECTIONS);
  const mark = uniqueMark();
  try {
    const token = await loginAs(client, 'admin', ADMIN_PASSWORD);
    const headers = { Authorization: `Bearer ${token}` };
    const register = (name: string) => async () => {
      const res = await client.call('PUT', `/appmesh/app/${name}`, { headers, body: { command: `sleep ${mark}` } });
      if (res.status !== 200) throw new Error(`register ${name}: ${res.status} ${res.body}`);
    };

    const t0 = performance.now();
    await inParallel(sizes.apps, (index) => register(`bench-${index}`)());
    await until(() => countSleeps(mark) >= sizes.apps, 120_000, 'every app to run');
    const startMs = performance.now() - t0;
    await sleep(2000);
    const rss = rssMiB(daemon.pid);
    // V8 gives back the pages of a burst's garbage only once its allocation has calmed down.
    await sleep(sizes.afterBurstMs);
    const settledRss = rssMiB(daemon.pid);

    // The REST floor of "stop all": as many authenticated requests that do next to nothing.
    const t2 = performance.now();
    await inParallel(sizes.apps, async () => {
      const res = await client.call('GET', '/appmesh/user/self', { headers });
      if (res.status !== 200) throw new Error(`user/self: ${res.status}`);
    });
    const viewAllMs = performance.now() - t2;

    const t1 = performance.now();
    await inParallel(sizes.apps, async (index) => {
      const res = await client.call('DELETE', `/appmesh/app/bench-${index}`, { headers });
      if (res.status !== 200) throw new Error(`delete bench-${index}: ${res.status} ${res.body}`);
    });
    await until(() => countSleeps(mark) === 0, 120_000, 'every app to stop');
    const stopPerAppMs = performance.now() - t1;

    // Stop all as supervisorctl and pm2 do it: one call. A stop is short against the machine's
    // noise: the median of STOP_ROUNDS.
    const bulk = async (action: string) => {
      const res = await client.call('POST', '/appmesh/applications/bulk', { headers, body: { action, all: true } });
      if (res.status !== 200) throw new Error(`bulk ${action}: ${res.status} ${res.body}`);
    };
    const stops: number[] = [];
    const answers: number[] = [];
    for (let round = 0; round < STOP_ROUNDS; round++) {
      await inParallel(sizes.apps, (index) => register(`again-${round}-${index}`)());
      await until(() => countSleeps(mark) >= sizes.apps, 120_000, 'every app to run again');
      await sleep(2000);
      const t3 = performance.now();
      const answered = bulk('disable').then(() => answers.push(performance.now() - t3));
      await until(() => countSleeps(mark) === 0, 120_000, 'every app to stop');
      stops.push(performance.now() - t3);
      await answered;
      await bulk('delete');
    }
    const stopMs = median(stops);
    const answerMs = median(answers);

    await inParallel(sizes.idleApps, (index) => register(`idle-${index}`)());
    await until(() => countSleeps(mark) >= sizes.idleApps, 120_000, 'every idle app to run');
    // The one-off work after a burst of registrations (the app files synced, the journals dropped)
    // is over before the idle window: it is the cost of the burst, not of being idle.
    await sleep(SETTLE_MS);
    await until(() => !readdirSync(join(home, 'apps')).some((name) => name.startsWith('.journal-')), 120_000, 'the app journals to be folded into the files');
    // V8 keeps collecting (its memory reducer) for a while after a burst of allocations: the
    // window measures the daemon once that is over, as it idles for hours.
    await sleep(sizes.afterBurstMs);
    const idle = await idleCpuPercent(daemon.pid, sizes.idleSeconds);
    return { rssMiB: rss, settledRssMiB: settledRss, startMs, stopMs, stopAnsweredMs: answerMs, stopPerAppMs, viewAllMs, idleCpuPercent: idle };
  } finally {
    client.close();
    await stop(daemon.child);
    killSleeps(mark);
    await removeHome(home);
  }
}

/** The baseline: a bare Node process that spawns N sleeps on `start N`, and kills them all on `kill`. */
const BARE_SPAWNER = `
const { spawn } = require('node:child_process');
const children = new Set();
let buffered = '';
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let end;
  while ((end = buffered.indexOf('\\n')) >= 0) {
    const [verb, count, mark] = buffered.slice(0, end).split(' ');
    buffered = buffered.slice(end + 1);
    if (verb === 'start') {
      for (let i = 0; i < Number(count); i++) {
        const child = spawn('sleep', [mark], { stdio: 'ignore' });
        children.add(child);
        child.once('exit', () => { children.delete(child); if (children.size === 0) process.stdout.write('empty\\n'); });
      }
    } else if (verb === 'kill') {
      for (const child of children) child.kill('SIGKILL');
    }
  }
});
`;

async function measureBare(sizes: Sizes): Promise<Figures> {
  const spawner: ChildProcess = spawn(process.execPath, ['-e', BARE_SPAWNER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const mark = uniqueMark();
  let emptied = 0;
  spawner.stdout!.on('data', (chunk: Buffer) => (emptied += chunk.toString().split('empty').length - 1));
  try {
    await sleep(300);
    const t0 = performance.now();
    spawner.stdin!.write(`start ${sizes.apps} ${mark}\n`);
    await until(() => countSleeps(mark) >= sizes.apps, 120_000, 'every sleep to run');
    const startMs = performance.now() - t0;
    await sleep(2000);
    const rss = rssMiB(spawner.pid!);
    await sleep(sizes.afterBurstMs);
    const settledRss = rssMiB(spawner.pid!);

    const stops: number[] = [];
    for (let round = 0; round < STOP_ROUNDS; round++) {
      if (round > 0) {
        spawner.stdin!.write(`start ${sizes.apps} ${mark}\n`);
        await until(() => countSleeps(mark) >= sizes.apps, 120_000, 'every sleep to run again');
        await sleep(2000);
      }
      const seen = emptied;
      const t1 = performance.now();
      spawner.stdin!.write('kill\n');
      await until(() => emptied > seen && countSleeps(mark) === 0, 120_000, 'every sleep to stop');
      stops.push(performance.now() - t1);
    }
    const stopMs = median(stops);

    spawner.stdin!.write(`start ${sizes.idleApps} ${mark}\n`);
    await until(() => countSleeps(mark) >= sizes.idleApps, 120_000, 'every idle sleep to run');
    await sleep(SETTLE_MS);
    const idle = await idleCpuPercent(spawner.pid!, sizes.idleSeconds);
    return { rssMiB: rss, settledRssMiB: settledRss, startMs, stopMs, stopAnsweredMs: 0, stopPerAppMs: 0, viewAllMs: 0, idleCpuPercent: idle };
  } finally {
    await stop(spawner);
    killSleeps(mark);
  }
}

/** The rows of the one bench table (numbers; the runner formats them and computes the ratios). */
export async function appsRows(options: { quick: boolean } = { quick: false }): Promise<AppsRow[]> {
  const sizes = options.quick ? QUICK : FULL;
  const bare = await measureBare(sizes);
  const ours = await measureDaemon(sizes);
  const label = (what: string) => `bare Node spawner, ${what}`;
  return [
    { figure: `${sizes.apps} sleep apps: RSS 2 s after start`, value: round(ours.rssMiB), unit: 'MiB', baseline: round(bare.rssMiB), baselineLabel: label(`${sizes.apps} sleeps`) },
    { figure: `${sizes.apps} sleep apps: RSS settled (${sizes.afterBurstMs / 1000} s later)`, value: round(ours.settledRssMiB), unit: 'MiB', baseline: round(bare.settledRssMiB), baselineLabel: label(`${sizes.apps} sleeps, as long after`) },
    { figure: `${sizes.apps} apps: start all (register until running)`, value: round(ours.startMs), unit: 'ms', baseline: round(bare.startMs), baselineLabel: label(`spawn ${sizes.apps}`) },
    { figure: `${sizes.apps} apps: stop all (one bulk disable until no process, median of ${STOP_ROUNDS})`, value: round(ours.stopMs), unit: 'ms', baseline: round(bare.stopMs), baselineLabel: label(`kill ${sizes.apps}, exits seen, median of ${STOP_ROUNDS}`) },
    { figure: `${sizes.apps} apps: stop all (one bulk disable until its answer, median of ${STOP_ROUNDS})`, value: round(ours.stopAnsweredMs), unit: 'ms', baseline: round(bare.stopMs), baselineLabel: label(`kill ${sizes.apps}, exits seen, median of ${STOP_ROUNDS}`) },
    { figure: `${sizes.apps} apps: ${sizes.apps} REST DELETEs until no process`, value: round(ours.stopPerAppMs), unit: 'ms', baseline: round(bare.stopMs), baselineLabel: label(`kill ${sizes.apps}, exits seen, median of ${STOP_ROUNDS}`) },
    { figure: `${sizes.apps} apps: ${sizes.apps} REST DELETEs until no process`, value: round(ours.stopPerAppMs), unit: 'ms', baseline: round(ours.viewAllMs), baselineLabel: `REST floor: ${sizes.apps} GET /appmesh/user/self, ${CONNECTIONS} connections` },
    { figure: `idle CPU with ${sizes.idleApps} apps (${sizes.idleSeconds} s)`, value: round(ours.idleCpuPercent), unit: '%', baseline: round(bare.idleCpuPercent), baselineLabel: label(`${sizes.idleApps} sleeps`) },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runBench(async () => {
    const rows = await appsRows({ quick: process.argv.includes('--quick') });
    printRows(rows.map((row) => ({ figure: row.figure, value: `${row.value} ${row.unit}`, baseline: `${row.baseline} ${row.unit} (${row.baselineLabel})`, ratio: ratio(row.value, row.baseline) })));
  });
}
