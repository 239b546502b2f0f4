// Slow clients against the REST listener: 20,000 sockets that send a login request's headers and
// then trickle its body one byte every 20 s, spread over 100 loopback addresses and reopened when
// the daemon closes them; meanwhile another client times readyz, login and syncrun. Prints the
// latencies before and during the flood, the daemon's open descriptors and RSS, and how many
// flood sockets it holds.
// Run: npm run build && node dist/bench/slow-clients.js   (not part of npm test)
// Knobs: SLOW_SOCKETS (20000), SLOW_SECONDS (40), SLOW_REOPEN_MS (5000), SLOW_DAEMON_NOFILE (65536).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { probe } from './http-client.js';
import { ADMIN_PASSWORD, cleanup, freePort, newHome, rssMiB, stop } from './processes.js';
import { percentile } from './stats.js';

const MAIN = join(import.meta.dirname, '..', 'src', 'main.js');
const SOCKETS = Number(process.env.SLOW_SOCKETS ?? 20_000);
const FLOOD_SECONDS = Number(process.env.SLOW_SECONDS ?? 40);
const REOPEN_MS = Number(process.env.SLOW_REOPEN_MS ?? 5000);
const DAEMON_NOFILE = Number(process.env.SLOW_DAEMON_NOFILE ?? 65_536);
const ADDRESSES = 100;
const TRICKLE_MS = 20_000;
const SAMPLES = 20;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** This process needs a descriptor per flood socket: raise its own limit where allowed. */
function raiseOwnFileLimit(wanted: number): number {
  try {
    // The hard limit also bounds the daemon this process starts: leave room for its own.
    const hard = Math.max(wanted, DAEMON_NOFILE);
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${wanted}:${hard}`], { stdio: 'ignore' });
  } catch {
    // Not allowed (no CAP_SYS_RESOURCE, no prlimit): the flood shrinks to what fits.
  }
  return openFileLimit(process.pid);
}

function openFileLimit(pid: number): number {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((text) => text.startsWith('Max open files'));
  return Number(line?.slice('Max open files'.length).trim().split(/\s+/)[0] ?? 1024);
}

async function startDaemon(home: string): Promise<{ child: ChildProcess; pid: number; url: string }> {
  const port = await freePort();
  // The daemon's own limit, set by the shell it replaces (`exec`).
  const child = spawn('bash', ['-c', `ulimit -n ${DAEMON_NOFILE} 2>/dev/null || true; exec "$0" "$1"`, process.execPath, MAIN], {
    env: { ...process.env, APPMESH_HOME: home, APPMESH_REST_RestListenPort: String(port), APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, APPMESH_MQTT_Enabled: 'false' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 20_000;
  while ((await probe(port, '/appmesh/readyz')) !== 200) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the daemon did not start');
    await sleep(20);
  }
  return { child, pid: child.pid!, url: `http://127.0.0.1:${port}` };
}

/** One call on a new connection, as a newcomer makes it; resolves with its status and time. */
function call(url: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; ms: number }> {
  const target = new URL(url);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request({ host: target.hostname, port: target.port, method, path, agent: false, timeout: 10_000, headers: { ...headers, ...(body ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

async function latencies(url: string, token: string): Promise<Record<string, { p50: number; p95: number; max: number; failed: number }>> {
  const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
  const calls: Record<string, () => Promise<{ status: number; ms: number }>> = {
    readyz: () => call(url, 'GET', '/appmesh/readyz', {}),
    login: () => call(url, 'POST', '/appmesh/login', { Authorization: basic }),
    syncrun: () => call(url, 'POST', '/appmesh/app/syncrun', { Authorization: `Bearer ${token}` }, JSON.stringify({ command: 'true' })),
  };
  const out: Record<string, { p50: number; p95: number; max: number; failed: number }> = {};
  for (const [name, run] of Object.entries(calls)) {
    const samples: number[] = [];
    let failed = 0;
    for (let i = 0; i < SAMPLES; i++) {
      const result = await run();
      if (result.status !== 200) failed++;
      samples.push(result.ms);
    }
    out[name] = { p50: percentile(samples, 50), p95: percentile(samples, 95), max: Math.max(...samples), failed };
  }
  return out;
}

/** The flood: `count` trickling sockets, each reopened `REOPEN_MS` after the daemon closes it. */
function flood(port: number, count: number): { open: () => number; opened: () => number; stop: () => void } {
  let open = 0;
  let opened = 0;
  let stopped = false;
  const sockets = new Set<Socket>();
  const head = `POST /appmesh/login HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${Buffer.from('admin:x').toString('base64')}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`;
  const start = (index: number): void => {
    if (stopped) return;
    const socket = connect({ host: '127.0.0.1', port, localAddress: `127.0.${1 + Math.floor(index / 250) % 200}.${1 + (index % ADDRESSES)}` });
    sockets.add(socket);
    opened++;
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      open++;
      socket.write(head);
      timer = setInterval(() => socket.write(' '), TRICKLE_MS);
    });
    socket.on('error', () => undefined);
    socket.on('close', (hadConnected) => {
      if (timer) clearInterval(timer);
      if (timer || hadConnected) open--;
      sockets.delete(socket);
      setTimeout(() => start(index), REOPEN_MS).unref();
    });
  };
  for (let i = 0; i < count; i++) setTimeout(() => start(i), Math.floor(i / 500) * 20).unref();
  return {
    open: () => open,
    opened: () => opened,
    stop: () => {
      stopped = true;
      for (const socket of sockets) socket.destroy();
    },
  };
}

function descriptors(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

async function main(): Promise<void> {
  const limit = raiseOwnFileLimit(SOCKETS + 1024);
  const count = Math.min(SOCKETS, limit - 512);
  const home = await newHome();
  const daemon = await startDaemon(home);
  const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
  const token = await new Promise<string>((resolve, reject) => {
    const target = new URL(daemon.url);
    const req = request({ host: target.hostname, port: target.port, method: 'POST', path: '/appmesh/login', headers: { Authorization: basic } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve((JSON.parse(text) as { access_token: string }).access_token));
    });
    req.on('error', reject);
    req.end();
  });
  console.log(`daemon open-file limit ${openFileLimit(daemon.pid)}, bench limit ${limit}; flood of ${count} sockets over ${ADDRESSES}+ addresses, one byte every ${TRICKLE_MS / 1000} s, reopened after ${REOPEN_MS} ms`);

  // Printed as they come: a flood that stalls the daemon still shows how far it got.
  console.log(['phase', 'call', 'p50 ms', 'p95 ms', 'max ms', 'failed', 'daemon'].map((h, i) => h.padEnd(i === 6 ? 0 : 12)).join(''));
  const row = (phase: string, figures: Awaited<ReturnType<typeof latencies>>, extra: string) => {
    for (const [name, f] of Object.entries(figures)) {
      console.log([phase, name, f.p50.toFixed(1), f.p95.toFixed(1), f.max.toFixed(1), `${f.failed}/${SAMPLES}`].map((c) => c.padEnd(12)).join('') + extra);
    }
  };
  const idleFds = descriptors(daemon.pid);
  row('idle', await latencies(daemon.url, token), `${idleFds} fds, ${rssMiB(daemon.pid).toFixed(0)} MiB`);

  const attack = flood(Number(new URL(daemon.url).port), count);
  const until = Date.now() + FLOOD_SECONDS * 1000;
  let round = 0;
  while (Date.now() < until) {
    await sleep(5000);
    round++;
    const figures = await latencies(daemon.url, token);
    row(`flood +${round * 5}s`, figures, `${descriptors(daemon.pid)} fds, ${rssMiB(daemon.pid).toFixed(0)} MiB, flood holds ${attack.open()} (${attack.opened()} opened)`);
  }
  attack.stop();
  await sleep(2000);
  row('after', await latencies(daemon.url, token), `${descriptors(daemon.pid)} fds, ${rssMiB(daemon.pid).toFixed(0)} MiB`);
  await stop(daemon.child);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
