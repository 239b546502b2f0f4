/** Addresses remembered at once; beyond, the oldest windows are forgotten first. */
const MAX_ADDRESSES = 10_000;

/**
 * Fixed-window count of requests per client address, for the bridge's anonymous endpoints
 * (the MCP SDK's defaults: 20 registrations an hour, 100 authorizations in 15 minutes).
 */
export class AddressRate {
  private readonly windows = new Map<string, { startMs: number; count: number }>();

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one request; the seconds to wait when the address is over its rate. */
  take(address: string): number {
    const now = this.now();
    let window = this.windows.get(address);
    if (!window || now - window.startMs >= this.windowMs) {
      if (window) this.windows.delete(address);
      this.forgetOldest();
      window = { startMs: now, count: 0 };
      this.windows.set(address, window);
    }
    if (window.count >= this.perWindow) return Math.ceil((window.startMs + this.windowMs - now) / 1000);
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
