/** A token bucket per key: `burst` at once, then `perSecond` on average. */
export interface RateLimitSettings {
  burst: number;
  perSecond: number;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

const MAX_TRACKED = 50_000;

export class RateLimit {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly settings: RateLimitSettings) {}

  /** Takes one token for `key`: 0 when allowed, else the milliseconds until the next one. */
  take(key: string, nowMs = Date.now()): number {
    if (this.buckets.size > MAX_TRACKED) this.forgetFull(nowMs);
    const { burst, perSecond } = this.settings;
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedMs: nowMs };
    bucket.tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * perSecond);
    bucket.updatedMs = nowMs;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / perSecond) * 1000);
  }

  /** A bucket that has refilled is the same as none. */
  private forgetFull(nowMs: number): void {
    const { burst, perSecond } = this.settings;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((nowMs - bucket.updatedMs) / 1000) * perSecond >= burst) this.buckets.delete(key);
    }
  }
}
