// `npm run bench`: every benchmark, one table. Each row is a figure, its value, its baseline
// measured in the same run and the ratio; the machine and its load at the start and the end.
// The table is also written as JSON (bench/results/latest.json unless --json <file> says
// otherwise), from which `npm run bench:doc` writes the table of docs/performance.md.
// Options: --quick (fewer repeats), --json <file>, --only <name,name,...>.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MeasuredRow, RowsFunction } from './measured.js';
import { outputRows } from './output.js';
import { cleanup } from './processes.js';
import { restRows } from './rest.js';
import { DEFAULT_RESULTS_FILE, printable, type BenchResults, type LoadSample, type TableRow } from './results.js';
import { printRows, ROWS_FILE_ENV, type Row } from './table.js';

const HERE = import.meta.dirname;

/** Benches that hand over numbers, run in this process one after the other. */
const MODULES: { name: string; file: string; exported: string; direct?: RowsFunction }[] = [
  { name: 'rest', file: 'rest.js', exported: 'restRows', direct: restRows },
  { name: 'output', file: 'output.js', exported: 'outputRows', direct: outputRows },
  { name: 'spawn-burst', file: 'spawn-burst.js', exported: 'spawnBurstRows' },
  { name: 'apps', file: 'apps.js', exported: 'appsRows' },
  { name: 'startup', file: 'startup.js', exported: 'startupRows' },
  { name: 'mcp-floor', file: 'mcp-floor.js', exported: 'mcpRows' },
  { name: 'plugin-sync', file: 'plugin-sync.js', exported: 'pluginSyncRows' },
  { name: 'appm', file: 'appm.js', exported: 'appmRows' },
];

/** Benches that print their own table, each run as a process of its own (they run when loaded). */
const SCRIPTS = ['run', 'auth', 'mcp', 'files', 'mqtt', 'containment', 'sandbox', 'transports'];

function sampleLoad(): LoadSample {
  const [a, b, c] = loadavg();
  return { at: new Date().toISOString(), loadavg: [round2(a), round2(b), round2(c)] };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

function isMeasuredRow(value: unknown): value is MeasuredRow {
  if (typeof value !== 'object' || value === null) return false;
  const row = value as Record<string, unknown>;
  return typeof row.figure === 'string' && typeof row.value === 'number' && typeof row.unit === 'string'
    && (row.baseline === undefined || typeof row.baseline === 'number') && (row.baselineLabel === undefined || typeof row.baselineLabel === 'string');
}

function fromMeasured(section: string, row: MeasuredRow): TableRow {
  const ratio = row.baseline !== undefined && row.baseline > 0 ? round2(row.value / row.baseline) : undefined;
  return { section, figure: row.figure, value: round2(row.value), unit: row.unit, baseline: row.baseline === undefined ? undefined : round2(row.baseline), baselineLabel: row.baselineLabel, ratio };
}

const notMeasured = (section: string, why: string): TableRow => ({ section, figure: `${section}: not measured`, value: why });

/** A bench module's rows; a module that is not there, or fails, gives a row saying so. */
async function moduleRows(entry: (typeof MODULES)[number], quick: boolean): Promise<TableRow[]> {
  let rows: RowsFunction | undefined = entry.direct;
  if (!rows) {
    try {
      const loaded = (await import(pathToFileURL(join(HERE, entry.file)).href)) as Record<string, unknown>;
      const candidate = loaded[entry.exported];
      if (typeof candidate === 'function') rows = candidate as RowsFunction;
    } catch (error) {
      return [notMeasured(entry.name, `bench/${entry.file.replace(/\.js$/, '.ts')} not loaded: ${(error as Error).message.split('\n')[0]}`)];
    }
  }
  if (!rows) return [notMeasured(entry.name, `bench/${entry.file.replace(/\.js$/, '.ts')} exports no ${entry.exported}()`)];
  try {
    const measured: unknown = await rows({ quick });
    if (!Array.isArray(measured)) return [notMeasured(entry.name, `${entry.exported}() returned no rows`)];
    return measured.map((row) => (isMeasuredRow(row) ? fromMeasured(entry.name, row) : notMeasured(entry.name, `a row of ${entry.exported}() is not a measured row`)));
  } catch (error) {
    return [notMeasured(entry.name, `failed: ${(error as Error).message.split('\n')[0]}`)];
  } finally {
    await cleanup();
  }
}

/** A printing bench run as a process of its own; its rows come back through a file. */
async function scriptRows(name: string, quick: boolean, log: string[]): Promise<TableRow[]> {
  const scratch = mkdtempSync(join(tmpdir(), 'appmesh-bench-rows-'));
  const rowsFile = join(scratch, 'rows.jsonl');
  writeFileSync(rowsFile, '');
  try {
    const output: Buffer[] = [];
    const code = await new Promise<number | null>((done) => {
      const child = spawn(process.execPath, [join(HERE, `${name}.js`), ...(quick ? ['--quick'] : [])], {
        env: { ...process.env, [ROWS_FILE_ENV]: rowsFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => output.push(chunk));
      child.once('error', () => done(null));
      child.once('exit', (exitCode) => done(exitCode));
    });
    log.push(`== bench/${name}.ts (exit ${code})`, Buffer.concat(output).toString().trimEnd());
    const rows = readFileSync(rowsFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Row);
    if (rows.length === 0) {
      const last = Buffer.concat(output).toString().trim().split('\n').pop() ?? '';
      return [notMeasured(name, code === 0 ? `no rows: ${last}` : `failed (exit ${code}): ${last}`)];
    }
    return rows.map((row) => ({ section: name, figure: row.figure, value: row.value, baseline: row.baseline === '-' ? undefined : row.baseline, ratio: parseRatio(row.ratio) }));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function parseRatio(text: string): number | undefined {
  const match = /^([\d.]+)x$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

function option(name: string): string | undefined {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = option('--only')?.split(',');
  const target = resolve(option('--json') ?? DEFAULT_RESULTS_FILE);
  const wanted = (name: string) => !only || only.includes(name);
  const startedAt = new Date();
  const began = performance.now();
  const start = sampleLoad();
  const rows: TableRow[] = [];
  const log: string[] = [];
  const sections: { name: string; seconds: number }[] = [];
  const measure = async (name: string, work: () => Promise<TableRow[]>) => {
    console.error(`bench: ${name}...`);
    const t0 = performance.now();
    rows.push(...(await work()));
    sections.push({ name, seconds: round2((performance.now() - t0) / 1000) });
  };
  for (const entry of MODULES.filter((m) => wanted(m.name))) await measure(entry.name, () => moduleRows(entry, quick));
  for (const name of SCRIPTS.filter(wanted)) await measure(name, () => scriptRows(name, quick, log));
  const end = sampleLoad();
  const results: BenchResults = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    quick,
    machine: { cores: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: round2(totalmem() / 1024 ** 3), node: process.version, platform: `${process.platform} ${process.arch}` },
    load: { start, end },
    seconds: round2((performance.now() - began) / 1000),
    sections,
    rows,
  };
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(target.replace(/\.json$/, '') + '.log', `${log.join('\n')}\n`);
  console.log(`machine: ${results.machine.cores} cores (${results.machine.cpuModel}), node ${process.version}${quick ? ', --quick' : ''}`);
  console.log(`load average (1/5/15 min): ${start.loadavg.join(' / ')} at start, ${end.loadavg.join(' / ')} at end; ${results.seconds} s`);
  printRows(rows.map(printable));
  console.log(`\nwritten to ${target} (the printing benches' own output beside it, .log)`);
}

// Ctrl-C: every process and home a bench started goes too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));
try {
  await main();
} catch (error) {
  console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
