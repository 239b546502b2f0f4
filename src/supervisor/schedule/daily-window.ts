/** Daily run window; values are UTC seconds of day (taken modulo 86400, so epoch seconds work). */
export interface DailyWindow {
  daily_start: number;
  daily_end: number;
}

const DAY_MS = 86_400_000;

function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}

function bounds(w: DailyWindow): { startMs: number; endMs: number } {
  return {
    startMs: mod(Math.floor(w.daily_start), 86_400) * 1000,
    endMs: mod(Math.floor(w.daily_end), 86_400) * 1000,
  };
}

/** start<end: [start,end); start>end: wraps past midnight; equal: whole day. */
export function isInDailyWindow(nowMs: number, w: DailyWindow): boolean {
  const { startMs, endMs } = bounds(w);
  const tod = mod(nowMs, DAY_MS);
  if (startMs === endMs) return true;
  if (startMs < endMs) return tod >= startMs && tod < endMs;
  return tod >= startMs || tod < endMs;
}

/** nowMs when inside the window, otherwise the epoch ms of the next opening. */
export function nextWindowOpening(nowMs: number, w: DailyWindow): number {
  if (isInDailyWindow(nowMs, w)) return nowMs;
  const { startMs } = bounds(w);
  const dayStart = nowMs - mod(nowMs, DAY_MS);
  const opening = dayStart + startMs;
  return opening > nowMs ? opening : opening + DAY_MS;
}

/** When inside, the epoch ms of the next closing; undefined outside or for the whole-day window. */
export function nextWindowClosing(nowMs: number, w: DailyWindow): number | undefined {
  const { startMs, endMs } = bounds(w);
  if (startMs === endMs || !isInDailyWindow(nowMs, w)) return undefined;
  const dayStart = nowMs - mod(nowMs, DAY_MS);
  const closing = dayStart + endMs;
  return closing > nowMs ? closing : closing + DAY_MS;
}
