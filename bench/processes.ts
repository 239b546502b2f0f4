import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { probe } from './http-client.js';

// The daemon as users run it (`npm start`, the appmesh-ts command): the bundle, in its own process.
export const BUNDLE_MAIN = join(import.meta.dirname, '..', 'bundle', 'main.js');
/** The daemon from the tsc output, module by module (the baseline of the bundle). */
export const TSC_MAIN = join(import.meta.dirname, '..', 'src', 'main.js');

/** Node's flags the daemon runs with (npm start, the appmesh-ts command, the container). */
export const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1', '--interrupt-budget=135168'];
/** The environment the daemon's command sets for itself (its first line, npm start, the container). */
export const DAEMON_ENV: NodeJS.ProcessEnv = { MALLOC_ARENA_MAX: '2' };

/** Which build of the daemon to start, and node's own flags before it (the daemon's own by default). */
export interface DaemonEntry {
  main?: string;
  nodeFlags?: string[];
}
const BARE_SERVER = (port: number) => `require('http').createServer((q,s)=>s.end('ok')).listen(${port},'127.0.0.1')`;
export const READY_PATH = '/appmesh/readyz';
/** `--quick`: fewer repeats (npm run bench -- --quick passes it to every bench). */
export const QUICK = process.argv.includes('--quick');
export const ADMIN_PASSWORD = 'Bench-Admin-Password-1';

export interface Started {
  child: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** Spawn to first 200 of the readiness path, in ms. */
  startMs: number;
}

// Everything the bench starts or creates, so cleanup survives any failure.
const children = new Set<ChildProcess>();
const homes = new Set<string>();
const groupLeaders = new Set<number>();

export async function newHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'appmesh-bench-'));
  homes.add(home);
  return home;
}

export async function removeHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true });
  homes.delete(home);
}

/** Process groups the daemon started for us; killed at cleanup should the daemon not. */
export function trackGroup(pid: number): void {
  groupLeaders.add(pid);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startDaemon(home: string, extraEnv: NodeJS.ProcessEnv = {}, entry: DaemonEntry = {}): Promise<Started> {
  // The other listeners on free ports too, so a bench never fails on a port another program holds.
  const listeners = { APPMESH_REST_RestTcpPort: String(await freePort()), APPMESH_REST_WebSocketPort: String(await freePort()), APPMESH_MQTT_EmbeddedBrokerPort: '0' };
  return startAndWait((port) => ({
    args: [...(entry.nodeFlags ?? DAEMON_NODE_FLAGS), entry.main ?? BUNDLE_MAIN],
    env: { ...listeners, ...process.env, ...DAEMON_ENV, APPMESH_HOME: home, APPMESH_REST_RestListenPort: String(port), APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, ...extraEnv },
    redact: home,
  }));
}

export function startBareServer(): Promise<Started> {
  return startAndWait((port) => ({ args: ['-e', BARE_SERVER(port)], env: process.env }));
}

/** A node script, given a free port as its only argument; ready once `readyPath` answers 200. */
export function startNodeScript(script: string, readyPath: string): Promise<Started> {
  return startAndWait((port) => ({ args: [script, String(port)], env: process.env }), readyPath);
}

async function startAndWait(build: (port: number) => { args: string[]; env: NodeJS.ProcessEnv; redact?: string }, readyPath = READY_PATH): Promise<Started> {
  const port = await freePort();
  const { args, env, redact } = build(port);
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-2000));
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if ((await probe(port, readyPath)) === 200) break;
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      const output = redact ? tail.split(redact).join('<home>') : tail;
      throw new Error(`process did not become ready (exit ${child.exitCode ?? child.signalCode ?? 'none'}):\n${output}`);
    }
    // Short poll: the interval bounds the start-time resolution.
    await sleep(5);
  }
  const startMs = performance.now() - t0;
  return { child, pid: child.pid!, port, url: `http://127.0.0.1:${port}`, startMs };
}

/** SIGTERM, then SIGKILL if it lingers; resolves once the process is gone. */
export async function stop(child: ChildProcess, graceMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** Resident set size in MiB, from /proc/<pid>/status. */
export function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

export async function cleanup(): Promise<void> {
  await Promise.all([...children].map((child) => stop(child, 5_000).catch(() => undefined)));
  for (const pid of groupLeaders) {
    // Only a group our app still leads: the pid may have been reused since.
    if (!stillOurSleep(pid)) continue;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  groupLeaders.clear();
  await Promise.all([...homes].map((home) => removeHome(home).catch(() => undefined)));
}

function stillOurSleep(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return stat.includes('(sleep)') && fields[0] !== 'Z' && Number(fields[2]) === pid;
  } catch {
    return false;
  }
}

/**
 * Runs a bench's main: whatever happens (an error, Ctrl-C), every process it started is stopped
 * and every temporary home removed.
 */
export async function runBench(main: () => Promise<void>): Promise<void> {
  let cleaning: Promise<void> | undefined;
  const cleanOnce = () => (cleaning ??= cleanup());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanOnce().finally(() => process.exit(130)));
  }
  try {
    await main();
  } catch (error) {
    console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  } finally {
    await cleanOnce();
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The baseline of the exec benchmarks: one raw `spawn('true')`, waited for. */
export function spawnTrue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('true', [], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`true exited with ${code}`))));
  });
}
