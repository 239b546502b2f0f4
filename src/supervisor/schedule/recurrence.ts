import { Cron } from 'croner';
import { isRunAllowed, nextAllowedTime, type RunWindow } from './time-window.js';

export type Recurrence =
  | { kind: 'interval'; seconds: number; anchorMs: number }
  | { kind: 'cron'; expression: string };

/** Thrown for cron text that is not a valid 6-field (seconds-first) expression. */
export class CronSyntaxError extends Error {
  constructor(readonly expression: string, detail: string) {
    super(`invalid cron expression ${JSON.stringify(expression)}: ${detail} (expected 6 fields: sec min hour dom mon dow, e.g. "0 */5 * * * *")`);
    this.name = 'CronSyntaxError';
  }
}

const cache = new Map<string, Cron>();
const CACHE_LIMIT = 256;

function compile(expression: string): Cron {
  const cached = cache.get(expression);
  if (cached) return cached;
  const fields = expression.trim().split(/\s+/).filter((f) => f !== '');
  if (fields.length !== 6) {
    throw new CronSyntaxError(expression, `expected 6 fields, got ${fields.length}`);
  }
  // croner treats text with ':' as a date and '@' as a nickname; neither is a 6-field pattern.
  if (/[:@]/.test(expression)) throw new CronSyntaxError(expression, "unexpected ':' or '@'");
  // '?' means "no specific value" (Quartz); croner would substitute the current time instead.
  for (const i of [3, 5]) if (fields[i] === '?') fields[i] = '*';
  let job: Cron;
  try {
    // No callback: nothing is scheduled; no timezone: the daemon's local zone.
    job = new Cron(fields.join(' '), { paused: true });
  } catch (err) {
    throw new CronSyntaxError(expression, err instanceof Error ? err.message : String(err));
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
  cache.set(expression, job);
  return job;
}

/** Throws CronSyntaxError unless `expression` is a valid 6-field cron expression with seconds. */
export function validateCron(expression: string): void {
  if (typeof expression !== 'string') throw new CronSyntaxError(String(expression), 'not a string');
  compile(expression);
}

/** First grid point anchor + k·interval (k ≥ 0) strictly after afterMs. */
function nextGridPoint(intervalMs: number, anchorMs: number, afterMs: number): number {
  if (afterMs < anchorMs) return anchorMs;
  let k = Math.floor((afterMs - anchorMs) / intervalMs) + 1;
  // Correct float rounding of the division; a couple of steps at most.
  for (let i = 0; i < 4 && anchorMs + (k - 1) * intervalMs > afterMs; i++) k--;
  for (let i = 0; i < 4 && anchorMs + k * intervalMs <= afterMs; i++) k++;
  return anchorMs + Math.max(k, 0) * intervalMs;
}

/**
 * Next occurrence strictly after afterMs (the anchor itself if afterMs precedes it).
 * With a window, a disallowed occurrence moves to the next allowed time (not re-snapped
 * to the grid/cron); undefined if there is none.
 */
export function nextOccurrence(rec: Recurrence, afterMs: number, window?: RunWindow): number | undefined {
  let occ: number | undefined;
  if (rec.kind === 'interval') {
    const intervalMs = Math.round(rec.seconds * 1000);
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new RangeError(`interval must be positive, got ${rec.seconds}`);
    }
    occ = nextGridPoint(intervalMs, Math.round(rec.anchorMs), Math.floor(afterMs));
    if (!Number.isSafeInteger(occ)) return undefined;
  } else {
    const next = compile(rec.expression).nextRun(new Date(afterMs));
    occ = next ? next.getTime() : undefined;
  }
  if (occ === undefined || window === undefined || isRunAllowed(occ, window)) return occ;
  return nextAllowedTime(occ, window);
}
