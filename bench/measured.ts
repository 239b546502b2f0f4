/**
 * A row of the `npm run bench` table as a bench measures it: numbers, the unit, and the baseline
 * measured in the same run. The runner formats it and computes the ratio (value / baseline).
 */
export interface MeasuredRow {
  figure: string;
  value: number;
  unit: string;
  /** Absent when the figure has no baseline of its own. */
  baseline?: number;
  baselineLabel?: string;
}

/** A bench module's entry point: its rows, measured (it starts and stops everything it uses). */
export type RowsFunction = (options: { quick: boolean }) => Promise<MeasuredRow[]>;
