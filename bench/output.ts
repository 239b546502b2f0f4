// 1 GiB of stdout captured by a REST syncrun, next to the same bytes through a pipe into a file
// by `cat` on the same disk; and the daemon's answer time (readyz) while it captures, next to the
// same daemon idle. Run alone: npm run build && node dist/bench/output.js [--quick]
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { keepAliveClient, loginAs } from './http-client.js';
import type { MeasuredRow, RowsFunction } from './measured.js';
import { ADMIN_PASSWORD, newHome, READY_PATH, removeHome, runBench, sleep, startDaemon, stop } from './processes.js';
import { median, percentile } from './stats.js';

const GIB = 1024 * 1024 * 1024;
const PROBE_GAP_MS = 5;

function shell(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command}: exit ${code}`))));
  });
}

async function timed(work: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

/**
 * readyz answer times (ms), every few ms on a connection of its own, while `busy()` is true:
 * a probe, not a load (back-to-back calls would take the CPU the copy needs).
 */
async function readyzWhile(url: string, busy: () => boolean, atLeast = 0): Promise<number[]> {
  const client = keepAliveClient(url);
  const samples: number[] = [];
  try {
    while (busy() || samples.length < atLeast) {
      const t0 = performance.now();
      const res = await client.call('GET', READY_PATH);
      if (res.status !== 200) throw new Error(`readyz: ${res.status}`);
      samples.push(performance.now() - t0);
      await sleep(PROBE_GAP_MS);
    }
  } finally {
    client.close();
  }
  return samples;
}

export const outputRows: RowsFunction = async ({ quick }) => {
  const home = await newHome();
  const daemon = await startDaemon(home);
  const client = keepAliveClient(daemon.url);
  const catFile = join(home, 'cat.out');
  try {
    const token = await loginAs(client, 'admin', ADMIN_PASSWORD);
    const syncrun = async () => {
      const res = await client.call('POST', '/appmesh/app/syncrun?timeout=600', { headers: { Authorization: `Bearer ${token}` }, body: { command: `head -c ${GIB} /dev/zero` } });
      if (res.status !== 200 || res.headers['x-exit-code'] !== '0') throw new Error(`syncrun: ${res.status} exit ${String(res.headers['x-exit-code'])}`);
    };
    const cat = async () => {
      await shell(`head -c ${GIB} /dev/zero | cat > '${catFile}'`);
      await rm(catFile);
    };
    // Interleaved, so drifting machine load and page-cache state hit both alike.
    const ours: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < (quick ? 1 : 3); i++) {
      ours.push(await timed(syncrun));
      base.push(await timed(cat));
    }
    // Apart from the timed runs: the probe costs CPU too.
    let running = true;
    const answers = readyzWhile(daemon.url, () => running);
    await syncrun().finally(() => (running = false));
    const busyAnswers = await answers;
    const idleAnswers = await readyzWhile(daemon.url, () => false, Math.max(200, busyAnswers.length));
    return [
      { figure: '1 GiB stdout captured by a syncrun', value: median(ours), unit: 'ms', baseline: median(base), baselineLabel: '`head -c 1G /dev/zero | cat > file`' },
      { figure: 'readyz p99 while a syncrun captures 1 GiB', value: percentile(busyAnswers, 99), unit: 'ms', baseline: percentile(idleAnswers, 99), baselineLabel: 'readyz p99, same daemon idle' },
      { figure: 'readyz max while a syncrun captures 1 GiB', value: Math.max(...busyAnswers), unit: 'ms', baseline: Math.max(...idleAnswers), baselineLabel: 'readyz max, same daemon idle' },
    ] satisfies MeasuredRow[];
  } finally {
    client.close();
    await stop(daemon.child);
    await removeHome(home);
  }
};

if (process.argv[1] === import.meta.filename) {
  await runBench(async () => console.table(await outputRows({ quick: process.argv.includes('--quick') })));
}
