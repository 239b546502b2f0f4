/**
 * Remembers the requests already accepted, so that a QoS 1 redelivery (same uuid from the same
 * requester) is executed once. Bounded by count and age; the oldest entries go first.
 */
export class SeenRequests {
  private readonly seen = new Map<string, number>();

  constructor(private readonly capacity = 10_000, private readonly ttlMs = 10 * 60_000) {}

  /** True the first time a key is offered (within the time-to-live), false for a repeat. */
  firstTime(key: string, now = Date.now()): boolean {
    this.expire(now);
    if (this.seen.has(key)) return false;
    this.seen.set(key, now + this.ttlMs);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }

  private expire(now: number): void {
    for (const [key, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(key);
    }
  }
}
