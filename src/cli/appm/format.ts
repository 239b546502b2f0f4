import { UsageError } from './args.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function outputFormat(value: string | undefined, fallback: OutputFormat = 'table'): OutputFormat {
  if (value === undefined) return fallback;
  if (value === 'table' || value === 'json' || value === 'yaml') return value;
  throw new UsageError(`--format must be table, json or yaml, not '${value}'`);
}

/** JSON or YAML of a value, for scripts and people (YAML is loaded only when asked for). */
export async function render(value: unknown, format: 'json' | 'yaml'): Promise<string> {
  if (format === 'json') return `${JSON.stringify(value, null, 2)}\n`;
  const { stringify } = await import('yaml');
  return stringify(value);
}

/** Columns aligned on the widest cell; the last column is never padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]?.length ?? 0)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const UNITS = ['B', 'Ki', 'Mi', 'Gi', 'Ti'];

export function bytes(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  let amount = value;
  let unit = 0;
  while (amount >= 1024 && unit < UNITS.length - 1) {
    amount /= 1024;
    unit++;
  }
  return unit === 0 ? `${amount} B` : `${amount >= 10 ? amount.toFixed(0) : amount.toFixed(1)} ${UNITS[unit]}`;
}

/** 3d4h, 5m12s, 40s. */
export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.floor(seconds);
  const parts: [number, string][] = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([amount]) => amount > 0);
  if (first < 0) return '0s';
  return parts
    .slice(first, first + 2)
    .filter(([amount]) => amount > 0)
    .map(([amount, unit]) => `${amount}${unit}`)
    .join('');
}

/** A command shown on one line of a table, quoted and cut. */
export function oneLine(text: string | undefined, max = 60): string {
  if (!text) return '-';
  const flat = JSON.stringify(text);
  return flat.length > max ? `${flat.slice(0, max - 2)}*"` : flat;
}
