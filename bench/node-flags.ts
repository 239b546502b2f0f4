// Node's own flags (and malloc's arena setting) for the daemon: each variant against the daemon with none, in one run, on the
// same work: idle RSS, REST syncrun `true` requests/s (autocannon) and RSS with many sleep apps.
// A flag is worth adopting only if the throughput stays within the run-to-run noise.
// Run alone: npm run build && node dist/bench/node-flags.js [--quick]
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { keepAliveClient, loginAs } from './http-client.js';
import { ADMIN_PASSWORD, newHome, QUICK, removeHome, rssMiB, runBench, sleep, startDaemon, stop } from './processes.js';
import { median } from './stats.js';
import { round, Table } from './table.js';

/** Node's flags, and the environment the daemon's command sets (MALLOC_ARENA_MAX undefined: glibc's default, an arena per thread). */
const VARIANTS: Record<string, { flags: string[]; env: NodeJS.ProcessEnv }> = {
  'no flag': { flags: [], env: { MALLOC_ARENA_MAX: undefined } },
  '--max-semi-space-size=1': { flags: ['--max-semi-space-size=1'], env: { MALLOC_ARENA_MAX: undefined } },
  '--max-semi-space-size=1, MALLOC_ARENA_MAX=2': { flags: ['--max-semi-space-size=1'], env: { MALLOC_ARENA_MAX: '2' } },
  '--max-semi-space-size=1 --interrupt-budget=135168, MALLOC_ARENA_MAX=2': { flags: ['--max-semi-space-size=1', '--interrupt-budget=135168'], env: { MALLOC_ARENA_MAX: '2' } },
};
const ROUNDS = QUICK ? 1 : 3;
const APPS = QUICK ? 100 : 500;
const RATE_SECONDS = QUICK ? 3 : 6;
const CONNECTIONS = 4;

interface Sample {
  idleRssMiB: number;
  requestsPerSecond: number;
  appsRssMiB: number;
}

/** Processes running exactly `sleep <mark>`. */
function sleeps(mark: string): number[] {
  const wanted = `sleep\0${mark}\0`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (entry.charCodeAt(0) > 57) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'latin1') === wanted) found.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

async function sample({ flags: nodeFlags, env }: { flags: string[]; env: NodeJS.ProcessEnv }): Promise<Sample> {
  const home = await newHome();
  const mark = String(1_000_000 + Math.floor(Math.random() * 8_000_000));
  const daemon = await startDaemon(home, { ...env, APPMESH_Limits_MaxAppsPerUser: String(APPS * 2), APPMESH_Limits_MaxProcessesPerUser: String(APPS * 4) }, { nodeFlags });
  const client = keepAliveClient(daemon.url, CONNECTIONS);
  try {
    await sleep(2_000);
    const idleRssMiB = rssMiB(daemon.pid);
    const token = await loginAs(client, 'admin', ADMIN_PASSWORD);
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const result = await autocannon({ url: `${daemon.url}/appmesh/app/syncrun`, method: 'POST', headers, body: JSON.stringify({ command: 'true' }), connections: CONNECTIONS, duration: RATE_SECONDS });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`autocannon: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    const requestsPerSecond = result['2xx'] / result.duration;
    let next = 0;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (next < APPS) {
          const res = await client.call('PUT', `/appmesh/app/flags-${next++}`, { headers, body: { command: `sleep ${mark}` } });
          if (res.status !== 200) throw new Error(`register: ${res.status} ${res.body}`);
        }
      }),
    );
    const deadline = Date.now() + 120_000;
    while (sleeps(mark).length < APPS) {
      if (Date.now() > deadline) throw new Error('timed out waiting for every app to run');
      await sleep(50);
    }
    await sleep(2_000);
    return { idleRssMiB, requestsPerSecond, appsRssMiB: rssMiB(daemon.pid) };
  } finally {
    client.close();
    await stop(daemon.child);
    for (const pid of sleeps(mark)) process.kill(pid, 'SIGKILL');
    await removeHome(home);
  }
}

if (process.argv[1] === import.meta.filename) {
  await runBench(async () => {
    const samples = new Map<string, Sample[]>(Object.keys(VARIANTS).map((name) => [name, []]));
    // Variants alternate, so drifting machine load hits all alike.
    for (let i = 0; i < ROUNDS; i++) for (const [name, variant] of Object.entries(VARIANTS)) samples.get(name)!.push(await sample(variant));
    console.log(`median of ${ROUNDS} rounds, variants alternating; ${APPS} apps; requests/s over ${RATE_SECONDS} s with ${CONNECTIONS} connections`);
    const table = new Table();
    for (const [name, list] of samples) {
      const pick = (key: keyof Sample) => round(median(list.map((s) => s[key])));
      table.row(name, `idle ${pick('idleRssMiB')} MiB`, `${APPS} apps ${pick('appsRssMiB')} MiB`, `${pick('requestsPerSecond')} req/s (each: ${list.map((s) => round(s.requestsPerSecond)).join(', ')})`);
    }
    table.print();
  });
}
