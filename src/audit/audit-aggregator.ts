import type { AuditEvent, AuditRecord } from './audit-event.js';

export interface AggregationSettings {
  /** Identical events within this window after the first become one record with a count. */
  windowMs: number;
  /** Failures of one kind from one client written one by one per window; the rest are summarised. */
  failureBurst: number;
  /** Bound on what is tracked; beyond it events are written as they come. */
  maxTracked: number;
}

export const DEFAULT_AGGREGATION: AggregationSettings = { windowMs: 10_000, failureBurst: 20, maxTracked: 10_000 };

interface Tally {
  event: AuditEvent;
  /** Occurrences since the window began, the one written at once excluded. */
  repeats: number;
  since: number;
  last: number;
}

interface Burst {
  event: string;
  client?: string;
  distinct: number;
  suppressed: number;
  since: number;
  last: number;
}

/**
 * Keeps a flood from washing out the log. The first of a run of identical events (same event,
 * user, client, outcome, target and detail) is written at once; the repeats within the window
 * become one record with a `count`, written when the window ends. Failures that differ in user or
 * target (a client guessing names) are written one by one up to `failureBurst` per client and
 * window, then counted in one summary record. Successes are never summarised: each one is a real
 * act of an authorised user.
 */
export class AuditAggregator {
  private readonly tallies = new Map<string, Tally>();
  private readonly bursts = new Map<string, Burst>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (record: AuditRecord) => void,
    private readonly settings: AggregationSettings = DEFAULT_AGGREGATION,
  ) {}

  record(event: AuditEvent, now = Date.now()): void {
    const identity = JSON.stringify([event.event, event.user, event.client, event.outcome, event.target, event.detail]);
    const tally = this.tallies.get(identity);
    if (tally) {
      tally.repeats++;
      tally.last = now;
      return;
    }
    if (this.tallies.size + this.bursts.size >= this.settings.maxTracked) {
      this.write({ time: iso(now), ...event });
      return;
    }
    if (event.outcome === 'failure') {
      const key = JSON.stringify([event.event, event.client]);
      let burst = this.bursts.get(key);
      if (!burst) this.bursts.set(key, (burst = { event: event.event, client: event.client, distinct: 0, suppressed: 0, since: now, last: now }));
      burst.last = now;
      if (burst.distinct >= this.settings.failureBurst) {
        burst.suppressed++;
        return;
      }
      burst.distinct++;
    }
    this.tallies.set(identity, { event, repeats: 0, since: now, last: now });
    this.write({ time: iso(now), ...event });
    this.timer ??= setInterval(() => this.closeWindows(Date.now()), Math.max(100, Math.floor(this.settings.windowMs / 4))).unref();
  }

  /** Writes every count held so far (before a flush or a shutdown). */
  drain(): void {
    this.closeWindows(Number.POSITIVE_INFINITY);
  }

  private closeWindows(now: number): void {
    const ended = (since: number) => now === Number.POSITIVE_INFINITY || now - since >= this.settings.windowMs;
    for (const [identity, tally] of this.tallies) {
      if (!ended(tally.since)) continue;
      if (tally.repeats > 0) {
        this.write({ time: iso(tally.last), ...tally.event, count: tally.repeats, since: iso(tally.since) });
        // A flood that goes on keeps being counted, one record per window.
        Object.assign(tally, { repeats: 0, since: Math.min(now, Date.now()) });
      } else {
        this.tallies.delete(identity);
      }
    }
    for (const [key, burst] of this.bursts) {
      if (!ended(burst.since)) continue;
      if (burst.suppressed > 0) {
        this.write({
          time: iso(burst.last), event: burst.event, ...(burst.client === undefined ? {} : { client: burst.client }), outcome: 'failure',
          detail: `more ${burst.event} failures from this client for other users or targets, counted, not written one by one`,
          count: burst.suppressed, since: iso(burst.since),
        });
      }
      this.bursts.delete(key);
    }
    if (this.tallies.size === 0 && this.bursts.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
