// `npm run bench:doc`: writes the latest bench table into docs/performance.md, between its two
// markers, from the JSON of `npm run bench` (bench/results/latest.json, or the file given), so
// the table there is never edited by hand.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_RESULTS_FILE, formatNumber, type BenchResults, type TableRow } from './results.js';

const DOC = join(import.meta.dirname, '..', '..', 'docs', 'performance.md');
const START = '<!-- bench-table:start (written by npm run bench:doc) -->';
const END = '<!-- bench-table:end -->';

const cell = (text: string) => text.replace(/\|/g, '\\|');

function markdown(results: BenchResults): string {
  const { machine, load } = results;
  const lines = [
    `Measured ${results.startedAt.slice(0, 16).replace('T', ' ')} UTC in ${Math.round(results.seconds)} s${results.quick ? ' (`--quick`: fewer repeats)' : ''}, ` +
      `on ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}. ` +
      `Load average (1 / 5 / 15 min): ${load.start.loadavg.join(' / ')} at the start, ${load.end.loadavg.join(' / ')} at the end.`,
    '',
    '| section | figure | value | baseline (same run) | ratio |',
    '|---|---|---:|---|---:|',
    ...results.rows.map((row: TableRow) => {
      const baseline = formatNumber(row.baseline, row.unit);
      const label = row.baselineLabel ? `${baseline} ${row.baselineLabel}` : baseline;
      return `| ${cell(row.section)} | ${cell(row.figure)} | ${cell(formatNumber(row.value, row.unit))} | ${cell(label)} | ${row.ratio === undefined ? '-' : `${row.ratio.toFixed(2)}x`} |`;
    }),
  ];
  return lines.join('\n');
}

const source = resolve(process.argv[2] ?? DEFAULT_RESULTS_FILE);
const results = JSON.parse(readFileSync(source, 'utf8')) as BenchResults;
const doc = readFileSync(DOC, 'utf8');
const from = doc.indexOf(START);
const to = doc.indexOf(END);
if (from < 0 || to < from) throw new Error(`${DOC} lacks the markers ${START} ... ${END}`);
writeFileSync(DOC, `${doc.slice(0, from + START.length)}\n${markdown(results)}\n${doc.slice(to)}`);
console.log(`docs/performance.md: table of ${results.rows.length} rows from ${source}`);
