import { join } from 'node:path';
import { ms, perSecond, type Row } from './table.js';

/** Where `npm run bench` writes its table as JSON unless told otherwise (from dist/bench/). */
export const DEFAULT_RESULTS_FILE = join(import.meta.dirname, '..', '..', 'bench', 'results', 'latest.json');

/** A row of the one table, as printed and as written to JSON. */
export interface TableRow {
  section: string;
  figure: string;
  /** A number with `unit` for the benches that hand over numbers; text for the others. */
  value: number | string;
  unit?: string;
  baseline?: number | string;
  baselineLabel?: string;
  /** value / baseline, when both are numbers. */
  ratio?: number;
}

export interface LoadSample {
  at: string;
  loadavg: [number, number, number];
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  machine: { cores: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  load: { start: LoadSample; end: LoadSample };
  seconds: number;
  /** How long each section took. */
  sections: { name: string; seconds: number }[];
  rows: TableRow[];
}

/** The value or baseline as printed: numbers with their unit. */
export function formatNumber(value: number | string | undefined, unit: string | undefined): string {
  if (value === undefined) return '-';
  if (typeof value === 'string') return value;
  if (unit === 'ms') return ms(value);
  if (unit === '/s') return perSecond(value);
  return `${value} ${unit ?? ''}`.trim();
}

/** The printed form of a row: figure, value, baseline with its label, ratio. */
export function printable(row: TableRow): Row {
  const baseline = formatNumber(row.baseline, row.unit);
  return {
    figure: `${row.section}: ${row.figure}`,
    value: formatNumber(row.value, row.unit),
    baseline: row.baselineLabel ? `${baseline} ${row.baselineLabel}` : baseline,
    ratio: row.ratio === undefined ? '-' : `${row.ratio.toFixed(2)}x`,
  };
}

