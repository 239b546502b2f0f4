/** Registrations one client address may make per window (the MCP SDK's own default: 20 an hour). */
const PER_WINDOW = 20;
const WINDOW_MS = 60 * 60 * 1000;
/** Addresses remembered at once; beyond, the oldest windows are forgotten first. */
const MAX_ADDRESSES = 10_000;

/** Fixed-window count of dynamic client registrations per client address. */
export class RegistrationRate {
  private readonly windows = new Map<string, { startMs: number; count: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Counts one registration; the seconds to wait when the address is over its rate. */
  take(address: string): number {
    const now = this.now();
    let window = this.windows.get(address);
    if (!window || now - window.startMs >= WINDOW_MS) {
      if (window) this.windows.delete(address);
      this.forgetOldest();
      window = { startMs: now, count: 0 };
      this.windows.set(address, window);
    }
    if (window.count >= PER_WINDOW) return Math.ceil((window.startMs + WINDOW_MS - now) / 1000);
    window.count++;
    return 0;
  }

  private forgetOldest(): void {
    // Map order is insertion order, and a window is re-inserted when it starts over.
    while (this.windows.size >= MAX_ADDRESSES) {
      const oldest = this.windows.keys().next().value;
      if (oldest === undefined) return;
      this.windows.delete(oldest);
    }
  }
}
