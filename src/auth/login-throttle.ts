/**
 * Exponential back-off of failed logins. Failures count per (user name, client address) and per
 * user name, whether the name exists or not (so the back-off itself does not tell); failures with
 * unknown names also count per client address and across all clients, and only those hold
 * unknown names back. So the right password of a known user is never refused because of others'
 * failures: many clients share one address (loopback, a proxy, the MQTT bridge), and a flood of
 * made-up names must not lock out the administrator.
 */
export interface ThrottleLimits {
  perUserAndClient: number;
  perUser: number;
  /** Failures with unknown user names from one client address. */
  unknownPerClient: number;
  /** Failures with unknown user names from all clients together. */
  unknownOverall: number;
  /** First block after the threshold, doubled on each further failure. */
  baseBlockMs: number;
  maxBlockMs: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = {
  perUserAndClient: 5,
  perUser: 100,
  unknownPerClient: 20,
  unknownOverall: 1000,
  baseBlockMs: 1000,
  maxBlockMs: 15 * 60 * 1000,
  windowMs: 15 * 60 * 1000,
};

/** Who is trying: a user name that exists (`known`) or not, from a client address. */
export interface LoginAttempt {
  user: string;
  client: string;
  known: boolean;
}

interface Counter {
  failures: number;
  lastFailureMs: number;
  blockedUntilMs: number;
}

const MAX_TRACKED = 50_000;

/** Logins of one lane waiting their turn; more are refused at once. */
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
   * Takes the next turn for a password check: the checks of one user from one address run one
   * after another, so each sees the failures before it — a burst of parallel guesses cannot all
   * be verified before the back-off starts. Unknown names share one slow lane across all clients.
   * Resolves to the release function, or undefined when too many are waiting already.
   */
  async turn(attempt: LoginAttempt): Promise<(() => void) | undefined> {
    const key = attempt.known ? `uc:${attempt.user}\u0000${attempt.client}` : 'unknown';
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

  /** Milliseconds this user name must wait from this client after its own failures, 0 when it may try now. */
  retryAfterMs(attempt: LoginAttempt, nowMs = Date.now()): number {
    return this.blockedMs(this.nameKeys(attempt), nowMs);
  }

  /**
   * Milliseconds unknown names from this client must wait. A known user's wrong password is
   * answered with the same refusal meanwhile, so the answer does not tell which names exist.
   */
  unknownNamesRetryAfterMs(client: string, nowMs = Date.now()): number {
    return this.blockedMs(this.unknownNameKeys(client), nowMs);
  }

  recordFailure(attempt: LoginAttempt, nowMs = Date.now()): void {
    if (this.counters.size > MAX_TRACKED) this.forgetOld(nowMs);
    const keys = attempt.known ? this.nameKeys(attempt) : [...this.nameKeys(attempt), ...this.unknownNameKeys(attempt.client)];
    for (const [key, threshold] of keys) {
      const current = this.counters.get(key);
      const counter = current && nowMs - current.lastFailureMs < this.limits.windowMs ? current : { failures: 0, lastFailureMs: 0, blockedUntilMs: 0 };
      counter.failures++;
      counter.lastFailureMs = nowMs;
      if (counter.failures >= threshold) {
        const block = Math.min(this.limits.baseBlockMs * 2 ** Math.min(counter.failures - threshold, 30), this.limits.maxBlockMs);
        counter.blockedUntilMs = nowMs + block;
      }
      this.counters.set(key, counter);
    }
  }

  recordSuccess(attempt: LoginAttempt): void {
    this.counters.delete(`uc:${attempt.user}\u0000${attempt.client}`);
  }

  private nameKeys(attempt: LoginAttempt): [string, number][] {
    return [
      [`uc:${attempt.user}\u0000${attempt.client}`, this.limits.perUserAndClient],
      [`u:${attempt.user}`, this.limits.perUser],
    ];
  }

  private unknownNameKeys(client: string): [string, number][] {
    return [[`xc:${client}`, this.limits.unknownPerClient], ['x', this.limits.unknownOverall]];
  }

  private blockedMs(keys: [string, number][], nowMs: number): number {
    return Math.max(0, ...keys.map(([key]) => (this.counters.get(key)?.blockedUntilMs ?? 0) - nowMs));
  }

  private forgetOld(nowMs: number): void {
    for (const [key, counter] of this.counters) {
      if (nowMs - counter.lastFailureMs > this.limits.windowMs && counter.blockedUntilMs < nowMs) this.counters.delete(key);
    }
  }
}
