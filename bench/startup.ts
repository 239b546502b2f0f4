// Start to first readyz 200, and resident memory once idle, of the daemon as `npm start` runs it
// (the bundle, dist/bundle/main.js) on a fresh home, beside a bare `node:http` server started the
// same way (answering 200), and beside the same daemon loaded module by module from the tsc
// output (dist/src/main.js), in one run. The first start's resident memory is read again once
// settled (after V8's memory reducer has run).
// Run: npm run build && node dist/bench/startup.js   (not part of npm test)
import { pathToFileURL } from 'node:url';
import { newHome, removeHome, rssMiB, runBench, sleep, startBareServer, startDaemon, stop, TSC_MAIN, type DaemonEntry, type Started } from './processes.js';
import { median } from './stats.js';
import type { MeasuredRow } from './measured.js';
import { ratio, round, Table } from './table.js';

/** One figure of the bench table, with its baseline measured in the same run. */
export type FigureRow = MeasuredRow & { baseline: number; baselineLabel: string };

const REPEATS = 3;
const QUICK_REPEATS = 1;
/** Idle means: nothing asked of it for this long after it answered readyz. */
const IDLE_AFTER_MS = 2_000;
/**
 * Settled: V8's memory reducer has run (it starts about 8 s after the process, once allocation
 * has calmed down, and gives back the heap pages start-up left free): what an idle daemon holds
 * from then on.
 */
const SETTLED_AFTER_MS = 10_000;

interface StartSample {
  startMs: number;
  idleRssMiB: number;
  settledRssMiB?: number;
}

async function sample(start: () => Promise<Started>, settled = false): Promise<StartSample> {
  const started = await start();
  try {
    await sleep(IDLE_AFTER_MS);
    const idle: StartSample = { startMs: started.startMs, idleRssMiB: rssMiB(started.pid) };
    if (settled) {
      await sleep(SETTLED_AFTER_MS - IDLE_AFTER_MS);
      idle.settledRssMiB = rssMiB(started.pid);
    }
    return idle;
  } finally {
    await stop(started.child);
  }
}

/** A first start on a fresh home, then a restart on the same home (no first-start work: the usual restart). */
async function sampleDaemon(entry: DaemonEntry = {}): Promise<{ first: StartSample; restart: StartSample }> {
  const home = await newHome();
  try {
    const first = await sample(() => startDaemon(home, {}, entry), !entry.main);
    return { first, restart: await sample(() => startDaemon(home, {}, entry)) };
  } finally {
    await removeHome(home);
  }
}

/** The daemon (bundle), the bare server and the tsc build alternate, the daemon on a fresh home then restarted on it: the median of REPEATS. */
export async function startupRows(options: { quick?: boolean } = {}): Promise<FigureRow[]> {
  const ours: StartSample[] = [];
  const oursRestarted: StartSample[] = [];
  const bare: StartSample[] = [];
  const unbundled: StartSample[] = [];
  for (let i = 0; i < (options.quick ? QUICK_REPEATS : REPEATS); i++) {
    const bundled = await sampleDaemon();
    ours.push(bundled.first);
    oursRestarted.push(bundled.restart);
    bare.push(await sample(startBareServer));
    unbundled.push((await sampleDaemon({ main: TSC_MAIN })).restart);
  }
  const label = 'bare node:http server';
  const tscLabel = 'the daemon module by module (tsc output)';
  const startMs = (samples: StartSample[]) => round(median(samples.map((s) => s.startMs)));
  const idleRss = (samples: StartSample[]) => round(median(samples.map((s) => s.idleRssMiB)));
  const settledRss = (samples: StartSample[]) => round(median(samples.map((s) => s.settledRssMiB ?? Number.NaN)));
  const rssFigure = `RSS idle (${IDLE_AFTER_MS / 1000} s after readyz)`;
  return [
    { figure: 'start to first readyz 200', value: startMs(ours), unit: 'ms', baseline: startMs(bare), baselineLabel: label },
    { figure: rssFigure, value: idleRss(ours), unit: 'MiB', baseline: idleRss(bare), baselineLabel: label },
    { figure: `RSS idle, settled (${SETTLED_AFTER_MS / 1000} s after readyz)`, value: settledRss(ours), unit: 'MiB', baseline: idleRss(bare), baselineLabel: `${label} (${IDLE_AFTER_MS / 1000} s)` },
    { figure: 'restart to first readyz 200', value: startMs(oursRestarted), unit: 'ms', baseline: startMs(bare), baselineLabel: label },
    { figure: 'restart to first readyz 200, bundled', value: startMs(oursRestarted), unit: 'ms', baseline: startMs(unbundled), baselineLabel: tscLabel },
    { figure: `${rssFigure}, restarted, bundled`, value: idleRss(oursRestarted), unit: 'MiB', baseline: idleRss(unbundled), baselineLabel: tscLabel },
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
    console.log(`median of ${REPEATS} starts each, alternating; RSS read ${IDLE_AFTER_MS / 1000} s (and ${SETTLED_AFTER_MS / 1000} s) after the first readyz 200`);
    printRows(await startupRows());
  });
}
