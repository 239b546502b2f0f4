/**
 * Exponential back-off of failed logins, counted per (user, client address), per client address
 * and per user. A client that guesses passwords is slowed down without locking the user out of
 * other addresses: the per-user threshold is far above the per-address ones.
 */
export interface ThrottleLimits {
  perUserAndClient: number;
  perClient: number;
  perUser: number;
  /** First block after the threshold, doubled on each further failure. */
  baseBlockMs: number;
  maxBlockMs: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = {
  perUserAndClient: 5,
  perClient: 20,
  perUser: 100,
  baseBlockMs: 1000,
  maxBlockMs: 15 * 60 * 1000,
  windowMs: 15 * 60 * 1000,
};

interface Counter {
  failures: number;
  lastFailureMs: number;
  blockedUntilMs: number;
}

const MAX_TRACKED = 50_000;

/** Logins of one client address waiting their turn; more are refused at once. */
const MAX_WAITING = 32;

interface Turns {
  tail: Promise<void>;
  waiting: number;
}

export class LoginThrottle {
  private readonly counters = new Map<string, Counter>();
  private readonly turns = new Map<string, Turns>();

  constructor(private readonly limits: ThrottleLimits = DEFAULT_THROTTLE) {}

  /**
   * Takes the next turn for a password check from `client`: the checks of one address run one
   * after another, so each sees the failures before it — a burst of parallel guesses cannot all be
   * verified before the back-off starts (nor spend every core on PBKDF2). Resolves to the release
   * function, or undefined when too many are waiting already.
   */
  async turn(client: string): Promise<(() => void) | undefined> {
    const key = client;
    const turns = this.turns.get(key) ?? { tail: Promise.resolve(), waiting: 0 };
    if (turns.waiting >= MAX_WAITING) return undefined;
    turns.waiting++;
    this.turns.set(key, turns);
    const previous = turns.tail;
    let release!: () => void;
    turns.tail = new Promise<void>((resolve) => (release = resolve));
    await previous;
    return () => {
      turns.waiting--;
      if (turns.waiting === 0) this.turns.delete(key);
      release();
    };
  }

  /** Milliseconds the caller must wait, 0 when it may try now. */
  retryAfterMs(user: string, client: string, nowMs = Date.now()): number {
    return Math.max(0, ...this.keys(user, client).map(([key]) => (this.counters.get(key)?.blockedUntilMs ?? 0) - nowMs));
  }

  recordFailure(user: string, client: string, nowMs = Date.now()): void {
    if (this.counters.size > MAX_TRACKED) this.forgetOld(nowMs);
    for (const [key, threshold] of this.keys(user, client)) {
      const current = this.counters.get(key);
      const counter = current && nowMs - current.lastFailureMs < this.limits.windowMs ? current : { failures: 0, lastFailureMs: 0, blockedUntilMs: 0 };
      counter.failures++;
      counter.lastFailureMs = nowMs;
      if (counter.failures >= threshold) {
        const block = Math.min(this.limits.baseBlockMs * 2 ** (counter.failures - threshold), this.limits.maxBlockMs);
        counter.blockedUntilMs = nowMs + block;
      }
      this.counters.set(key, counter);
    }
  }

  recordSuccess(user: string, client: string): void {
    this.counters.delete(`uc:${user}\u0000${client}`);
  }

  private keys(user: string, client: string): [string, number][] {
    return [
      [`uc:${user}\u0000${client}`, this.limits.perUserAndClient],
      [`c:${client}`, this.limits.perClient],
      [`u:${user}`, this.limits.perUser],
    ];
  }

  private forgetOld(nowMs: number): void {
    for (const [key, counter] of this.counters) {
      if (nowMs - counter.lastFailureMs > this.limits.windowMs && counter.blockedUntilMs < nowMs) this.counters.delete(key);
    }
  }
}
