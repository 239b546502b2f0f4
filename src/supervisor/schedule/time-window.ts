import { isInDailyWindow, nextWindowClosing, nextWindowOpening, type DailyWindow } from './daily-window.js';

/** Constraints on when an app may run: [startTime, endTime) in epoch seconds plus a daily window. */
export interface RunWindow {
  startTime?: number;
  endTime?: number;
  daily?: DailyWindow;
}

/** start_time ≤ t < end_time ∧ the daily window contains t. */
export function isRunAllowed(nowMs: number, window: RunWindow): boolean {
  if (window.startTime !== undefined && nowMs < window.startTime * 1000) return false;
  if (window.endTime !== undefined && nowMs >= window.endTime * 1000) return false;
  return window.daily === undefined || isInDailyWindow(nowMs, window.daily);
}

/** Earliest time ≥ afterMs at which a run is allowed; undefined if never again. */
export function nextAllowedTime(afterMs: number, window: RunWindow): number | undefined {
  let t = afterMs;
  if (window.startTime !== undefined) t = Math.max(t, window.startTime * 1000);
  // One step suffices: an opening is always a point inside the daily window.
  if (window.daily !== undefined) t = nextWindowOpening(t, window.daily);
  if (window.endTime !== undefined && t >= window.endTime * 1000) return undefined;
  return t;
}

/**
 * The next time after nowMs at which a run allowed now stops being allowed (end_time or the
 * daily window's end); undefined when no such edge is ahead or when no run is allowed now.
 */
export function nextWindowEdge(nowMs: number, window: RunWindow): number | undefined {
  if (!isRunAllowed(nowMs, window)) return undefined;
  const edges: number[] = [];
  if (window.endTime !== undefined) edges.push(window.endTime * 1000);
  if (window.daily !== undefined) {
    const closing = nextWindowClosing(nowMs, window.daily);
    if (closing !== undefined) edges.push(closing);
  }
  return edges.length ? Math.min(...edges) : undefined;
}
