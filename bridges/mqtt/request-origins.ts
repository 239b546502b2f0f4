import { createHash } from 'node:crypto';

const TTL_MS = 60_000;
const MAX_PENDING = 10_000;

/**
 * The network address of whoever published each request the bridge serves. The broker notes it
 * when it accepts the publication; the bridge, which receives the same message over its own
 * connection, takes it back by topic and content. REST then sees each device's own address
 * (audit, login throttling) instead of one address shared by every MQTT client.
 */
export class RequestOrigins {
  private readonly pending = new Map<string, { addresses: string[]; expiresMs: number }>();

  note(topic: string, payload: Buffer, address: string, nowMs = Date.now()): void {
    if (this.pending.size >= MAX_PENDING) this.prune(nowMs);
    const key = this.key(topic, payload);
    const entry = this.pending.get(key);
    if (entry) {
      entry.addresses.push(address);
      entry.expiresMs = nowMs + TTL_MS;
    } else {
      this.pending.set(key, { addresses: [address], expiresMs: nowMs + TTL_MS });
    }
  }

  /** The address of the oldest matching publication not taken yet, or undefined. */
  take(topic: string, payload: Buffer, nowMs = Date.now()): string | undefined {
    const key = this.key(topic, payload);
    const entry = this.pending.get(key);
    if (!entry || entry.expiresMs < nowMs) {
      this.pending.delete(key);
      return undefined;
    }
    const address = entry.addresses.shift();
    if (entry.addresses.length === 0) this.pending.delete(key);
    return address;
  }

  private prune(nowMs: number): void {
    for (const [key, entry] of this.pending) if (entry.expiresMs < nowMs) this.pending.delete(key);
    // Still full: forget the oldest (insertion order), whose requests then show no address.
    for (const key of this.pending.keys()) {
      if (this.pending.size < MAX_PENDING) break;
      this.pending.delete(key);
    }
  }

  private key(topic: string, payload: Buffer): string {
    return createHash('sha256').update(topic).update('\0').update(payload).digest('base64');
  }
}
