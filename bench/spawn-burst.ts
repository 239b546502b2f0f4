// Event-loop delay during a burst of process starts. The daemon runs in this process; a client in
// another process sends 200 `syncrun true` (4 at a time) while monitorEventLoopDelay (1 ms
// resolution) watches this process's loop. Same run, same figures for: the daemon forking in its
// own process (APPMESH_SPAWNER=off), a bare loop doing spawn('true') 200 times, and an idle loop
// (the machine's noise floor). Also the cost of the launcher's exec chains (appmesh-launch, and sh + setpriv) against
// spawn('true'), and a start to exit through each spawner process (the fork server, the Node spawner) against
// spawn('true') in this process. As root where `chrt` is found, the whole bench runs at real-time
// priority (SCHED_FIFO, its children at normal priority), so that other processes of a busy machine
// cannot preempt the measured loop. Figures are printed, never asserted.
// Run alone: npm run build && node dist/bench/spawn-burst.js [--quick]
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { launcherTools, planLaunch } from '../src/containment/launcher.js';
import { Spawner, type SpawnRequest } from '../src/containment/spawner.js';
import { Table, ratio } from './table.js';

/** A row as the one bench table takes it: numbers, the unit and the baseline of the same run. */
export interface SpawnBurstRow {
  figure: string;
  value: number;
  unit: string;
  baseline: number;
  baselineLabel: string;
}

const PASSWORD = 'Bench-Admin-Password-1';
const CONCURRENCY = 4;

interface LoopDelay {
  maxMs: number;
  p99Ms: number;
}

interface Burst extends LoopDelay {
  p50Ms: number;
  perSecond: number;
  /** Resident memory of the spawner process after the burst (0 without one). */
  spawnerRssMiB: number;
  daemonRssMiB: number;
}

function rssMiB(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'));
    return line ? Number(line.replace(/\D+/g, '')) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs `work` while the loop delay of this process is recorded at 1 ms resolution. */
async function withLoopDelay<T>(work: () => Promise<T>): Promise<{ result: T } & LoopDelay> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  try {
    const result = await work();
    return { result, maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6 };
  } finally {
    histogram.disable();
  }
}

/** `count` spawn('true') in this process, one after the other: each fork's pause stands alone. */
async function bareSpawns(count: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    await new Promise<void>((resolve) => spawn('true', { stdio: 'ignore' }).once('exit', () => resolve()));
  }
}

/** The client, in a process of its own so its work does not count in the daemon's loop. */
const CLIENT = String.raw`
const { BENCH_URL, BENCH_TOKEN, BENCH_COUNT, BENCH_CONCURRENCY } = process.env;
const latencies = [];
let next = 0;
async function worker() {
  while (next++ < Number(BENCH_COUNT)) {
    const start = performance.now();
    const response = await fetch(BENCH_URL + '/appmesh/app/syncrun', { method: 'POST', headers: { Authorization: 'Bearer ' + BENCH_TOKEN, 'Content-Type': 'application/json' }, body: '{"command":"true"}' });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error('syncrun answered ' + response.status);
    latencies.push(performance.now() - start);
  }
}
const began = performance.now();
Promise.all(Array.from({ length: Number(BENCH_CONCURRENCY) }, worker)).then(() => {
  process.stdout.write(JSON.stringify({ latencies, elapsedMs: performance.now() - began }));
}, (error) => { console.error(error); process.exit(1); });
`;

function runClient(url: string, token: string, count: number): Promise<{ latencies: number[]; elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CLIENT], { env: { ...process.env, BENCH_URL: url, BENCH_TOKEN: token, BENCH_COUNT: String(count), BENCH_CONCURRENCY: String(CONCURRENCY) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { latencies: number[]; elapsedMs: number }) : reject(new Error(`client exited ${code}`))));
  });
}

async function login(url: string): Promise<string> {
  const response = await fetch(`${url}/appmesh/login`, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}` } });
  return ((await response.json()) as { access_token: string }).access_token;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** A daemon in this process; `count` syncruns from the client while the loop is watched. */
async function daemonBurst(count: number, extraEnv: Record<string, string>): Promise<Burst> {
  const { startDaemon } = await import('../src/daemon.js');
  const { Logger } = await import('../src/util/log.js');
  const home = await mkdtemp(join(tmpdir(), 'appmesh-bench-'));
  const env = { ...process.env, APPMESH_ADMIN_PASSWORD: PASSWORD, APPMESH_MQTT_EmbeddedBrokerPort: '0', ...extraEnv };
  const daemon = await startDaemon({ home, env, port: 0, logger: new Logger('ERROR', () => undefined) });
  try {
    const token = await login(daemon.url);
    // Warm-up: the first starts load code and fill the pipe pool.
    await runClient(daemon.url, token, 20);
    const { result, maxMs, p99Ms } = await withLoopDelay(() => runClient(daemon.url, token, count));
    const spawnerPid = daemon.supervisor.containment?.spawner?.pid;
    return {
      maxMs,
      p99Ms,
      p50Ms: percentile(result.latencies, 50),
      perSecond: (count * 1000) / result.elapsedMs,
      spawnerRssMiB: spawnerPid ? rssMiB(spawnerPid) : 0,
      daemonRssMiB: rssMiB(process.pid),
    };
  } finally {
    await daemon.close();
    await rm(home, { recursive: true, force: true });
  }
}

/**
 * The start alone, without HTTP, auth or output files: `count` runs of `true` started through
 * ProcessRun (cgroup, launcher, spawner) with the real containment, `CONCURRENCY` at a time.
 */
async function processRunBurst(count: number, extraEnv: Record<string, string>): Promise<LoopDelay> {
  const { Containment } = await import('../src/containment/containment.js');
  const { ProcessRun } = await import('../src/supervisor/process/process-run.js');
  const home = await mkdtemp(join(tmpdir(), 'appmesh-bench-'));
  const containment = Containment.open({ home, env: { ...process.env, ...extraEnv }, limits: { maxProcesses: () => 4096, maxMemoryMB: () => 0 }, log: () => undefined });
  const spec = { command: 'true', shell: false, workingDir: home, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } };
  const runs = async (total: number) => {
    let next = 0;
    const worker = async () => {
      while (next++ < total) {
        const run = await ProcessRun.start(spec, 1000, containment);
        await run.exited;
        await run.stop();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  };
  try {
    await runs(20);
    const { maxMs, p99Ms } = await withLoopDelay(() => runs(count));
    return { maxMs, p99Ms };
  } finally {
    containment.close();
    await rm(home, { recursive: true, force: true });
  }
}

/** Start to exit of `count` sequential starts of `args`, p50 in ms. */
/** Start-to-exit times of `file`, `count` runs one after another. */
async function startToExitTimes(file: string, args: string[], env: Record<string, string>, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    const start = performance.now();
    await new Promise<void>((resolve) => spawn(file, args, { stdio: 'ignore', env, detached: true }).once('exit', () => resolve()));
    times.push(performance.now() - start);
  }
  return times;
}

/** Median start-to-exit time of each command, measured in alternating rounds so drifting load hits all alike. */
async function interleavedStartToExit(commands: { file: string; args: string[]; env: Record<string, string> }[], count: number): Promise<number[]> {
  const times: number[][] = commands.map(() => []);
  const rounds = 5;
  for (let round = 0; round < rounds; round++) {
    for (const [index, command] of commands.entries()) times[index].push(...(await startToExitTimes(command.file, command.args, command.env, Math.ceil(count / rounds))));
  }
  return times.map((values) => percentile(values, 50));
}

interface Chain {
  ms: number;
  label: string;
}

/** Start to exit times of `request` through a spawner process. */
async function spawnerStartToExitTimes(spawner: Spawner, request: SpawnRequest, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < count; index++) {
    const start = performance.now();
    await (await spawner.start(request)).exited;
    times.push(performance.now() - start);
  }
  return times;
}

/**
 * A run's start to exit through each spawner process, as runs use them (appmesh-launch's steps,
 * dropping to nobody when root, then `true`), against spawn('true') in this process, in
 * alternating rounds.
 */
async function spawnerStartToExit(count: number): Promise<{ forkServer?: number; node: number; bareMs: number }> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const tools = launcherTools();
  const user = process.getuid?.() === 0 && tools.native ? { uid: 65534, gid: 65534 } : undefined;
  const launch = planLaunch({ argv: ['true'], env, user, cgroupProcsFiles: [] }, tools);
  const request: SpawnRequest = { file: launch.file, args: launch.args, env: launch.env, cwd: '/', stdin: 'ignore' };
  const quiet = () => undefined;
  const forkServer = tools.native ? new Spawner(quiet, tools.native) : undefined;
  const node = new Spawner(quiet);
  const times = { forkServer: [] as number[], node: [] as number[], bare: [] as number[] };
  try {
    // Warm-up: both processes started and their code loaded.
    if (forkServer) await spawnerStartToExitTimes(forkServer, request, 5);
    await spawnerStartToExitTimes(node, request, 5);
    const rounds = 5;
    const perRound = Math.ceil(count / rounds);
    for (let round = 0; round < rounds; round++) {
      if (forkServer) times.forkServer.push(...(await spawnerStartToExitTimes(forkServer, request, perRound)));
      times.node.push(...(await spawnerStartToExitTimes(node, request, perRound)));
      times.bare.push(...(await startToExitTimes('true', [], env, perRound)));
    }
  } finally {
    forkServer?.close();
    node.close();
  }
  return { forkServer: forkServer ? percentile(times.forkServer, 50) : undefined, node: percentile(times.node, 50), bareMs: percentile(times.bare, 50) };
}

/**
 * The launcher's exec chain as runs use it (appmesh-launch where it was built) and the shell
 * chain it replaces (sh, then setpriv), each dropping to nobody when root, against a bare spawn.
 */
async function launcherChains(count: number): Promise<{ native?: Chain; shell: Chain; bareMs: number }> {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const tools = launcherTools();
  const asRoot = process.getuid?.() === 0;
  const plan = (chainTools: typeof tools, name: string, drop: string) => {
    const user = asRoot && (chainTools.native || chainTools.setpriv) ? { uid: 65534, gid: 65534 } : undefined;
    const launch = planLaunch({ argv: ['true'], env, user, cgroupProcsFiles: [] }, chainTools);
    return { file: launch.file, args: launch.args, env: launch.env, label: user ? `${name} (uid switch${drop}) + true` : `${name} + true` };
  };
  const shell = plan({ ...tools, native: undefined }, 'sh', ' by setpriv');
  const native = tools.native ? plan(tools, 'appmesh-launch', '') : undefined;
  const [bareMs, shellMs, nativeMs] = await interleavedStartToExit([{ file: 'true', args: [], env }, shell, ...(native ? [native] : [])], count);
  return { native: native && { ms: nativeMs, label: native.label }, shell: { ms: shellMs, label: shell.label }, bareMs };
}

/** Set in the copy of this bench that runs at real-time priority. */
const REAL_TIME_ENV = 'APPMESH_BENCH_REAL_TIME';
const TIMER_PERIOD_MS = 1;

/**
 * The loop's delays are measured at real-time priority (SCHED_FIFO, children back to normal) where
 * the machine allows it: the machine's other processes cannot then preempt the measured loop, and
 * what remains is the loop's own work (and the hypervisor's). Elsewhere at normal priority.
 */
function chrtProgram(): string | undefined {
  if (process.env[REAL_TIME_ENV] || process.getuid?.() !== 0) return undefined;
  for (const dir of ['/usr/bin', '/bin']) {
    try {
      accessSync(join(dir, 'chrt'), constants.X_OK);
      return join(dir, 'chrt');
    } catch {
      // Next folder.
    }
  }
  return undefined;
}

async function rowsAtRealTime(chrt: string, quick: boolean): Promise<SpawnBurstRow[] | undefined> {
  const args = ['-f', '-R', '50', process.execPath, import.meta.filename, '--rows-json', ...(quick ? ['--quick'] : [])];
  return new Promise((resolve) => {
    const child = spawn(chrt, args, { env: { ...process.env, [REAL_TIME_ENV]: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('error', () => resolve(undefined));
    child.once('exit', (code) => {
      try {
        resolve(code === 0 ? (JSON.parse(out) as SpawnBurstRow[]) : undefined);
      } catch {
        resolve(undefined);
      }
    });
  });
}

export async function spawnBurstRows(options: { quick: boolean } = { quick: false }): Promise<SpawnBurstRow[]> {
  const chrt = chrtProgram();
  const atRealTime = chrt ? await rowsAtRealTime(chrt, options.quick) : undefined;
  if (atRealTime) return atRealTime;
  return measureRows(options.quick, process.env[REAL_TIME_ENV] ? 'real-time priority' : 'normal priority');
}

async function measureRows(quick: boolean, priority: string): Promise<SpawnBurstRow[]> {
  const options = { quick };
  const count = options.quick ? 60 : 200;
  const idle = await withLoopDelay(() => new Promise((resolve) => setTimeout(resolve, 1000)));
  // Warm-up: the first spawn loads code.
  await bareSpawns(5);
  const bare = await withLoopDelay(() => bareSpawns(count));
  const startsSpawner = await processRunBurst(count, {});
  const startsInDaemon = await processRunBurst(count, { APPMESH_SPAWNER: 'off' });
  const spawner = await daemonBurst(count, {});
  const inDaemon = await daemonBurst(count, { APPMESH_SPAWNER: 'off' });
  const chains = await launcherChains(options.quick ? 30 : 100);
  const spawners = await spawnerStartToExit(options.quick ? 30 : 100);
  const bareLabel = `bare loop spawn('true') x${count}`;
  return [
    { figure: `${count} process starts alone: loop delay max (spawner)`, value: startsSpawner.maxMs, unit: 'ms', baseline: bare.maxMs, baselineLabel: bareLabel },
    { figure: `${count} process starts alone: loop delay p99 (spawner)`, value: startsSpawner.p99Ms, unit: 'ms', baseline: bare.p99Ms, baselineLabel: bareLabel },
    { figure: `${count} process starts alone: loop delay max (fork in daemon)`, value: startsInDaemon.maxMs, unit: 'ms', baseline: bare.maxMs, baselineLabel: bareLabel },
    { figure: `${count} syncruns: daemon loop delay max (spawner)`, value: spawner.maxMs, unit: 'ms', baseline: bare.maxMs, baselineLabel: bareLabel },
    { figure: `${count} syncruns: daemon loop delay p99 (spawner)`, value: spawner.p99Ms, unit: 'ms', baseline: bare.p99Ms, baselineLabel: bareLabel },
    { figure: `${count} syncruns: daemon loop delay max (fork in daemon)`, value: inDaemon.maxMs, unit: 'ms', baseline: bare.maxMs, baselineLabel: bareLabel },
    { figure: `${count} syncruns: daemon loop delay p99 (fork in daemon)`, value: inDaemon.p99Ms, unit: 'ms', baseline: bare.p99Ms, baselineLabel: bareLabel },
    { figure: 'idle loop delay max (noise floor)', value: idle.maxMs, unit: 'ms', baseline: idle.p99Ms, baselineLabel: 'idle loop delay p99' },
    // A 1 ms timer's delay counts its own period: the longest stall is what lies beyond it.
    { figure: `${count} process starts alone: longest loop stall (delay max - the 1 ms period), ${priority}`, value: Math.max(0, startsSpawner.maxMs - TIMER_PERIOD_MS), unit: 'ms', baseline: Math.max(0, idle.maxMs - TIMER_PERIOD_MS), baselineLabel: 'the idle loop, same' },
    { figure: 'syncrun p50 during the burst (spawner)', value: spawner.p50Ms, unit: 'ms', baseline: inDaemon.p50Ms, baselineLabel: 'same, fork in daemon' },
    { figure: 'syncrun/s during the burst (spawner)', value: spawner.perSecond, unit: '/s', baseline: inDaemon.perSecond, baselineLabel: 'same, fork in daemon' },
    { figure: 'spawner process RSS after the burst (the fork server where built)', value: spawner.spawnerRssMiB, unit: 'MiB', baseline: spawner.daemonRssMiB, baselineLabel: 'daemon (and this bench) RSS' },
    ...(chains.native ? [{ figure: `launcher exec chain start to exit p50 (${chains.native.label})`, value: chains.native.ms, unit: 'ms', baseline: chains.bareMs, baselineLabel: "spawn('true')" }] : []),
    { figure: `launcher exec chain start to exit p50 (${chains.shell.label})`, value: chains.shell.ms, unit: 'ms', baseline: chains.bareMs, baselineLabel: "spawn('true')" },
    ...(spawners.forkServer !== undefined ? [{ figure: 'a run through the fork server (appmesh-launch --serve), start to exit p50', value: spawners.forkServer, unit: 'ms', baseline: spawners.bareMs, baselineLabel: "spawn('true') in this process" }] : []),
    { figure: 'a run through the Node spawner, start to exit p50', value: spawners.node, unit: 'ms', baseline: spawners.bareMs, baselineLabel: "spawn('true') in this process" },
  ];
}

async function main(): Promise<void> {
  const rows = await spawnBurstRows({ quick: process.argv.includes('--quick') });
  if (process.argv.includes('--rows-json')) {
    process.stdout.write(JSON.stringify(rows));
    return;
  }
  const table = new Table();
  const format = (value: number, unit: string) => `${value.toFixed(2)} ${unit}`;
  for (const row of rows) table.row(row.figure, format(row.value, row.unit), `${row.baselineLabel}: ${format(row.baseline, row.unit)}`, ratio(row.value, row.baseline));
  table.print();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
