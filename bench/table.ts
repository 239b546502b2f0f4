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

export class Table {
  readonly rows: Row[] = [];

  row(figure: string, value: string, baseline = '-', r = '-'): void {
    this.rows.push({ figure, value, baseline, ratio: r });
  }

  print(): void {
    const head: Row = { figure: 'figure', value: 'value', baseline: 'baseline (same run)', ratio: 'ratio' };
    const all = [head, ...this.rows];
    const width = (key: keyof Row) => Math.max(...all.map((r) => r[key].length));
    const w = { figure: width('figure'), value: width('value'), baseline: width('baseline'), ratio: width('ratio') };
    const line = (r: Row) => `${r.figure.padEnd(w.figure)}  ${r.value.padStart(w.value)}  ${r.baseline.padEnd(w.baseline)}  ${r.ratio.padStart(w.ratio)}`;
    console.log(line(head));
    console.log('-'.repeat(w.figure + w.value + w.baseline + w.ratio + 6));
    for (const r of this.rows) console.log(line(r));
  }
}
