// Start to first readyz 200, and resident memory once idle, of `node dist/src/main.js` on a fresh
// home, beside a bare `node:http` server started the same way (answering 200), in one run.
// Run: npm run build && node dist/bench/startup.js   (not part of npm test)
import { pathToFileURL } from 'node:url';
import { newHome, removeHome, rssMiB, runBench, sleep, startBareServer, startDaemon, stop, type Started } from './processes.js';
import { median } from './stats.js';
import type { MeasuredRow } from './measured.js';
import { ratio, round, Table } from './table.js';

/** One figure of the bench table, with its baseline measured in the same run. */
export type FigureRow = MeasuredRow & { baseline: number; baselineLabel: string };

const REPEATS = 3;
const QUICK_REPEATS = 1;
/** Idle means: nothing asked of it for this long after it answered readyz. */
const IDLE_AFTER_MS = 2_000;

interface StartSample {
  startMs: number;
  idleRssMiB: number;
}

async function sample(start: () => Promise<Started>): Promise<StartSample> {
  const started = await start();
  try {
    await sleep(IDLE_AFTER_MS);
    return { startMs: started.startMs, idleRssMiB: rssMiB(started.pid) };
  } finally {
    await stop(started.child);
  }
}

/** Daemon and bare server alternate, each on a fresh start (a fresh home for the daemon): the median of REPEATS. */
export async function startupRows(options: { quick?: boolean } = {}): Promise<FigureRow[]> {
  const ours: StartSample[] = [];
  const bare: StartSample[] = [];
  for (let i = 0; i < (options.quick ? QUICK_REPEATS : REPEATS); i++) {
    const home = await newHome();
    try {
      ours.push(await sample(() => startDaemon(home)));
    } finally {
      await removeHome(home);
    }
    bare.push(await sample(startBareServer));
  }
  const label = 'bare node:http server';
  return [
    { figure: 'start to first readyz 200', value: round(median(ours.map((s) => s.startMs))), unit: 'ms', baseline: round(median(bare.map((s) => s.startMs))), baselineLabel: label },
    { figure: `RSS idle (${IDLE_AFTER_MS / 1000} s after readyz)`, value: round(median(ours.map((s) => s.idleRssMiB))), unit: 'MiB', baseline: round(median(bare.map((s) => s.idleRssMiB))), baselineLabel: label },
  ];
}

export function printRows(rows: readonly FigureRow[]): void {
  const table = new Table();
  for (const row of rows) table.row(row.figure, `${row.value} ${row.unit}`, `${row.baseline} ${row.unit} ${row.baselineLabel}`, ratio(row.value, row.baseline));
  table.print();
  console.log(JSON.stringify(rows));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runBench(async () => {
    console.log(`median of ${REPEATS} starts each, alternating; RSS read ${IDLE_AFTER_MS / 1000} s after the first readyz 200`);
    printRows(await startupRows());
  });
}
