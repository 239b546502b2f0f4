import { appendFileSync } from 'node:fs';

/** The figure / value / baseline / ratio table the benches print. */
export interface Row {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
}

export const ms = (v: number) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
export const perSecond = (v: number) => `${v.toFixed(0)}/s`;
export const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
export const round = (v: number) => Math.round(v * 100) / 100;

/**
 * Where a bench run by `npm run bench` (bench/all.ts) hands its rows over: one JSON row a line,
 * appended to the file this variable names. Run alone, a bench only prints.
 */
export const ROWS_FILE_ENV = 'APPMESH_BENCH_ROWS';

/** Hands rows to the runner when there is one. */
export function emitRows(rows: readonly Row[]): void {
  const file = process.env[ROWS_FILE_ENV];
  if (!file) return;
  appendFileSync(file, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
}

export function printRows(rows: readonly Row[]): void {
  const head: Row = { figure: 'figure', value: 'value', baseline: 'baseline (same run)', ratio: 'ratio' };
  const all = [head, ...rows];
  const width = (key: keyof Row) => Math.max(...all.map((r) => r[key].length));
  const w = { figure: width('figure'), value: width('value'), baseline: width('baseline'), ratio: width('ratio') };
  const line = (r: Row) => `${r.figure.padEnd(w.figure)}  ${r.value.padStart(w.value)}  ${r.baseline.padEnd(w.baseline)}  ${r.ratio.padStart(w.ratio)}`;
  console.log(line(head));
  console.log('-'.repeat(w.figure + w.value + w.baseline + w.ratio + 6));
  for (const r of rows) console.log(line(r));
}

export class Table {
  readonly rows: Row[] = [];

  row(figure: string, value: string, baseline = '-', r = '-'): void {
    this.rows.push({ figure, value, baseline, ratio: r });
  }

  /** Prints the table, and hands its rows to the runner of `npm run bench` when it runs this bench. */
  print(): void {
    printRows(this.rows);
    emitRows(this.rows);
  }
}
