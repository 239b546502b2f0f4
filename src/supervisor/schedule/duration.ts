/** Thrown for values that are neither a non-negative integer nor an ISO-8601 duration. */
export class DurationSyntaxError extends Error {
  constructor(readonly value: unknown, detail?: string) {
    super(`invalid duration ${describe(value)}${detail ? `: ${detail}` : ''} (expected non-negative integer seconds or ISO-8601 duration such as PT30S, P1DT2H, P1W)`);
    this.name = 'DurationSyntaxError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}

const NUM = '(\\d+(?:[.,]\\d+)?)';
// Calendar units are fixed-length on purpose: a duration has no anchor date.
const ISO_DURATION = new RegExp(
  `^P(?:${NUM}Y)?(?:${NUM}M)?(?:${NUM}W)?(?:${NUM}D)?(?:T(?:${NUM}H)?(?:${NUM}M)?(?:${NUM}S)?)?$`,
  'i',
);
const UNIT_SECONDS = [365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1];

/** Parses the ISO-8601 form; undefined when the text is not one. Result may be unsafe (huge). */
function parseIsoDuration(text: string): number | undefined {
  const m = ISO_DURATION.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1);
  if (parts.every((p) => p === undefined)) return undefined; // "P"
  const tIndex = text.search(/t/i);
  if (tIndex >= 0 && parts.slice(4).every((p) => p === undefined)) return undefined; // "PT", "P1DT"
  let total = 0;
  parts.forEach((p, i) => {
    if (p !== undefined) total += Number(p.replace(',', '.')) * UNIT_SECONDS[i];
  });
  return Math.round(total);
}

/** Returns seconds (possibly unsafe/huge) or undefined for bad syntax; negative integers give -1. */
function parseText(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  if (/^-\d+$/.test(t)) return -1;
  return parseIsoDuration(t);
}

/**
 * Seconds from a non-negative integer, a numeric string or an ISO-8601 duration
 * (`P1W`, `PT30S`, `P1DT2H`; Y = 365 d, M = 30 d; fractions rounded to whole seconds).
 */
export function parseDurationSeconds(value: unknown): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new DurationSyntaxError(value, 'not a non-negative integer');
    return value;
  }
  if (typeof value !== 'string') throw new DurationSyntaxError(value);
  const seconds = parseText(value);
  if (seconds === undefined) throw new DurationSyntaxError(value);
  if (seconds < 0) throw new DurationSyntaxError(value, 'negative');
  if (!Number.isSafeInteger(seconds)) throw new DurationSyntaxError(value, 'too large');
  return seconds;
}

/**
 * Integer query parameter: absent/empty → fallback; decimal or ISO-8601 duration → value;
 * negative or outside [min, max] → fallback; anything else throws DurationSyntaxError.
 */
export function parseQueryInteger(value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  const n = parseText(value);
  if (n === undefined) throw new DurationSyntaxError(value);
  if (n < 0 || n < min || n > max || !Number.isSafeInteger(n)) return fallback;
  return n;
}
