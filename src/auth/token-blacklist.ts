import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../store/atomic-file.js';
import { Serial } from '../util/serial.js';

const CAPACITY = 10_240;
const storedSchema = z.record(z.string(), z.number());

/**
 * Revoked token ids (`jti` → expiry, epoch s), kept until the token would have expired anyway.
 * Saved before a revocation is acknowledged, so a restart never resurrects a revoked token.
 */
export class TokenBlacklist {
  private readonly writes = new Serial();

  private constructor(private readonly file: string, private readonly entries: Map<string, number>) {}

  static async open(file: string): Promise<TokenBlacklist> {
    const entries = new Map<string, number>();
    try {
      const parsed = storedSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      if (parsed.success) for (const [jti, exp] of Object.entries(parsed.data)) entries.set(jti, exp);
    } catch {
      // Missing file: nothing revoked yet.
    }
    return new TokenBlacklist(file, entries);
  }

  has(jti: string): boolean {
    return this.entries.has(jti);
  }

  /** Returns false when it was revoked already (single-use tokens rely on this). */
  async revoke(jti: string, expiresAt: number): Promise<boolean> {
    if (this.entries.has(jti)) return false;
    this.entries.set(jti, expiresAt);
    this.prune();
    // Each write holds every entry so far; in call order, the last write on disk is the fullest.
    await this.writes.run(() => writeFileAtomic(this.file, JSON.stringify(Object.fromEntries(this.entries)), { mode: 0o600 }));
    return true;
  }

  private prune(): void {
    const now = Math.floor(Date.now() / 1000) - 120;
    for (const [jti, exp] of this.entries) if (exp < now) this.entries.delete(jti);
    if (this.entries.size <= CAPACITY) return;
    // Over capacity: forget those that expire soonest.
    const soonest = [...this.entries].sort((a, b) => a[1] - b[1]).slice(0, this.entries.size - CAPACITY);
    for (const [jti] of soonest) this.entries.delete(jti);
  }
}
