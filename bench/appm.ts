// Start-up of the `appm` command line: `appm --version` (no network) and `appm ls` against a local
// daemon, beside `node -e 0` (the floor: starting node itself), each run alternately in one run.
// Run: npm run build && node dist/bench/appm.js   (not part of npm test)
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MeasuredRow } from './measured.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, startDaemon, stop } from './processes.js';
import { median } from './stats.js';
import { ratio, round, Table } from './table.js';

const APPM = join(import.meta.dirname, '..', 'src', 'cli', 'appm', 'main.js');

/** Wall time of one process from spawn to exit, in ms; fails on a non-zero exit. */
function timeProcess(args: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`)))),
  );
}

export async function appmRows(options: { quick: boolean } = { quick: false }): Promise<MeasuredRow[]> {
  const repeats = options.quick ? 5 : 15;
  const home = await newHome();
  const client = await mkdtemp(join(tmpdir(), 'appm-bench-'));
  const daemon = await startDaemon(home);
  try {
    const env = { ...process.env, HOME: client, XDG_CONFIG_HOME: join(client, '.config'), APPMESH_URL: daemon.url };
    await timeProcess([APPM, 'logon', '-U', 'admin', '-X', ADMIN_PASSWORD], env);
    const floor: number[] = [];
    const version: number[] = [];
    const list: number[] = [];
    // One warm-up of each (disk cache), then the three alternate so load on the machine hits all alike.
    await timeProcess(['-e', '0'], env);
    await timeProcess([APPM, '--version'], env);
    await timeProcess([APPM, 'ls'], env);
    for (let i = 0; i < repeats; i++) {
      floor.push(await timeProcess(['-e', '0'], env));
      version.push(await timeProcess([APPM, '--version'], env));
      list.push(await timeProcess([APPM, 'ls'], env));
    }
    const baseline = round(median(floor));
    const label = 'node -e 0';
    return [
      { figure: 'appm --version (spawn to exit)', value: round(median(version)), unit: 'ms', baseline, baselineLabel: label },
      { figure: 'appm ls against a local daemon (spawn to exit)', value: round(median(list)), unit: 'ms', baseline, baselineLabel: label },
    ];
  } finally {
    await stop(daemon.child);
    await removeHome(home);
    await rm(client, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runBench(async () => {
    const rows = await appmRows({ quick: process.argv.includes('--quick') });
    const table = new Table();
    for (const row of rows) table.row(row.figure, `${row.value} ${row.unit}`, `${row.baseline} ${row.unit} ${row.baselineLabel}`, ratio(row.value, row.baseline!));
    table.print();
  });
}
