import { ServiceError } from './errors.js';

/** The per-user shares of what the daemon holds (keys of the `Limits` section). */
export type ShareKey = 'MaxRunsPerUser' | 'MaxAppsPerUser' | 'MaxMcpSessionsPerUser' | 'MaxSubscriptionsPerUser';

export type ShareLimits = () => Readonly<Record<ShareKey, number>>;

/** Seconds a client is told to wait before trying again: a share frees up when something ends. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Fair shares: one user at its cap is refused (429, naming the limit) while everyone else keeps
 * working. The holders count what they hold; this decides, so every face gets the same answer.
 */
export class UserShares {
  /** Places taken by operations still under way (e.g. a run being started), per share and user. */
  private readonly pending = new Map<string, number>();

  constructor(private readonly limits: ShareLimits) {}

  /** Throws when `user` already holds `held` places (plus those being taken) of its share. */
  admit(key: ShareKey, user: string, held: number): void {
    const limit = this.limits()[key];
    if (held + (this.pending.get(`${key}\0${user}`) ?? 0) >= limit) throw shareExhausted(key, limit, user);
  }

  /**
   * Admits, then holds the place until `release` is called: for operations that take their place
   * only after an await, so concurrent requests cannot all pass the same check.
   */
  reserve(key: ShareKey, user: string, held: number): () => void {
    this.admit(key, user, held);
    const slot = `${key}\0${user}`;
    this.pending.set(slot, (this.pending.get(slot) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.pending.get(slot) ?? 1) - 1;
      if (left > 0) this.pending.set(slot, left);
      else this.pending.delete(slot);
    };
  }
}

export function shareExhausted(key: ShareKey, limit: number, user: string): ServiceError {
  return new ServiceError(429, `Limits.${key} (${limit}) reached for user ${user}`, false, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
}
