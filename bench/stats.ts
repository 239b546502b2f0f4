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

export type Call = () => Promise<void>;

/** Raw timings of one batch: every call's latency (ms) and the batch's wall time. */
export interface Batch {
  samples: number[];
  wallMs: number;
}

/** `count` timed calls, `concurrency` in flight at a time (1 = sequential). */
export async function batch(call: Call, count: number, concurrency = 1): Promise<Batch> {
  const samples: number[] = [];
  let next = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < count) {
        const t0 = performance.now();
        await call();
        samples.push(performance.now() - t0);
      }
    }),
  );
  return { samples, wallMs: performance.now() - begin };
}

/** Pools batches of one series: latency over all samples, calls per second over the summed wall time. */
export function summarize(batches: readonly Batch[]): Summary {
  const samples = batches.flatMap((b) => b.samples);
  const wallMs = batches.reduce((sum, b) => sum + b.wallMs, 0);
  return { median: median(samples), p95: percentile(samples, 95), perSecond: (samples.length * 1000) / wallMs };
}

/**
 * Several series measured in `rounds` interleaved slices, so drifting machine load (another job,
 * CPU frequency) hits every series alike. Each series first gets `warmup` untimed calls.
 */
export async function interleaved<K extends string>(
  series: Record<K, Call>,
  options: { count: number; warmup: number; concurrency?: number; rounds?: number },
): Promise<Record<K, Summary>> {
  const { count, warmup, concurrency = 1, rounds = 2 } = options;
  const keys = Object.keys(series) as K[];
  const batches = new Map<K, Batch[]>(keys.map((key) => [key, []]));
  for (const key of keys) await batch(series[key], warmup, concurrency);
  for (let round = 0; round < rounds; round++) {
    // Slices split `count` exactly, whatever the number of rounds.
    const slice = Math.floor((count * (round + 1)) / rounds) - Math.floor((count * round) / rounds);
    for (const key of keys) batches.get(key)!.push(await batch(series[key], slice, concurrency));
  }
  return Object.fromEntries(keys.map((key) => [key, summarize(batches.get(key)!)])) as Record<K, Summary>;
}
