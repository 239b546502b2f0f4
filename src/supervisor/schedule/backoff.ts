const MAX_BACKOFF_SECONDS = 300;
const STABLE_RUN_MS = 60_000;

/** Restart delay for continuous apps: 1, 2, 4, … s (cap 300) after short runs; 0 after a run ≥ 60 s. */
export function nextBackoffSeconds(previousBackoff: number, runDurationMs: number): number {
  if (runDurationMs >= STABLE_RUN_MS) return 0;
  if (!(previousBackoff > 0)) return 1;
  return Math.min(previousBackoff * 2, MAX_BACKOFF_SECONDS);
}
