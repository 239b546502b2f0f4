/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export const median = (samples: readonly number[]): number => percentile(samples, 50);

export interface Summary {
  median: number;
  p95: number;
  /** Sequential calls per second over the whole series. */
  perSecond: number;
}

/** Times `count` sequential calls of `call` after `warmup` untimed ones (milliseconds). */
export async function timeSeries(call: () => Promise<void>, count: number, warmup: number): Promise<Summary> {
  for (let i = 0; i < warmup; i++) await call();
  const samples: number[] = [];
  const begin = performance.now();
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await call();
    samples.push(performance.now() - t0);
  }
  const total = performance.now() - begin;
  return { median: median(samples), p95: percentile(samples, 95), perSecond: (count * 1000) / total };
}
