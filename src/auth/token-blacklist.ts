import { createHash } from 'node:crypto';
import { readFile, unlink } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../store/atomic-file.js';
import { Serial } from '../util/serial.js';
import { CLOCK_LEEWAY_SECONDS } from './token-service.js';

// File layout: an 8-byte header, then one 16-byte record per revoked token: the 12 bytes of its
// id and its expiry (uint32, epoch seconds, big-endian).
const MAGIC = Buffer.from('AMRV\u0001\u0000\u0000\u0000', 'latin1');
const ID_BYTES = 12;
const RECORD_BYTES = ID_BYTES + 4;
/** Kept a little past expiry plus leeway, so a clock step cannot bring a revoked token back. */
const KEEP_AFTER_EXPIRY_SECONDS = CLOCK_LEEWAY_SECONDS + 60;
const PRUNE_EVERY_MS = 60_000;

const legacySchema = z.record(z.string(), z.number());

/** Our token ids are 12 random bytes in base64url; any other id is reduced to 12 bytes of its hash. */
function idOf(jti: string): string {
  if (/^[A-Za-z0-9_-]{16}$/.test(jti)) return jti;
  return createHash('sha256').update(jti).digest().subarray(0, ID_BYTES).toString('base64url');
}

/**
 * Revoked token ids, each kept until that token would have expired anyway: the list is bounded
 * by the tokens' own lifetimes, never by a count, so no amount of later revocations can push an
 * earlier one out. Saved (atomically, 16 bytes per token) before a revocation is acknowledged;
 * revocations that arrive while a save is running share the next one.
 */
export class TokenBlacklist {
  private readonly writes = new Serial();
  /** The save that will hold every entry added so far, while it has not started. */
  private queued: Promise<void> | undefined;
  private lastPruneMs = 0;

  private constructor(private readonly file: string, private readonly entries: Map<string, number>) {}

  /** Opens `file`; revocations of the older JSON list (`legacyFile`) are taken over once. */
  static async open(file: string, legacyFile?: string): Promise<TokenBlacklist> {
    const entries = new Map<string, number>();
    const data = await readFile(file).catch(() => undefined);
    if (data && data.subarray(0, MAGIC.length).equals(MAGIC)) {
      // A torn tail cannot happen (saves are atomic); a short last record is ignored all the same.
      for (let offset = MAGIC.length; offset + RECORD_BYTES <= data.length; offset += RECORD_BYTES) {
        entries.set(data.subarray(offset, offset + ID_BYTES).toString('base64url'), data.readUInt32BE(offset + ID_BYTES));
      }
    }
    const list = new TokenBlacklist(file, entries);
    if (legacyFile) await list.takeOver(legacyFile);
    return list;
  }

  get size(): number {
    return this.entries.size;
  }

  has(jti: string): boolean {
    return this.entries.has(idOf(jti));
  }

  /** Returns false when it was revoked already (single-use tokens rely on this). */
  async revoke(jti: string, expiresAt: number): Promise<boolean> {
    const id = idOf(jti);
    if (this.entries.has(id)) return false;
    this.entries.set(id, Math.max(0, Math.min(0xffff_ffff, Math.ceil(expiresAt))));
    await this.save();
    return true;
  }

  private save(): Promise<void> {
    this.queued ??= this.writes.run(() => {
      // From here on, a new revocation needs the save after this one.
      this.queued = undefined;
      return writeFileAtomic(this.file, this.serialize(), { mode: 0o600 });
    });
    return this.queued;
  }

  private serialize(): Buffer {
    this.prune();
    const data = Buffer.allocUnsafe(MAGIC.length + this.entries.size * RECORD_BYTES);
    MAGIC.copy(data, 0);
    let offset = MAGIC.length;
    for (const [id, expiresAt] of this.entries) {
      offset += Buffer.from(id, 'base64url').copy(data, offset);
      offset = data.writeUInt32BE(expiresAt, offset);
    }
    return data;
  }

  private prune(): void {
    const nowMs = Date.now();
    if (nowMs - this.lastPruneMs < PRUNE_EVERY_MS) return;
    this.lastPruneMs = nowMs;
    const expiredBefore = Math.floor(nowMs / 1000) - KEEP_AFTER_EXPIRY_SECONDS;
    for (const [id, expiresAt] of this.entries) if (expiresAt < expiredBefore) this.entries.delete(id);
  }

  private async takeOver(legacyFile: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(legacyFile, 'utf8');
    } catch {
      return;
    }
    let parsed;
    try {
      parsed = legacySchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    for (const [jti, expiresAt] of Object.entries(parsed?.success ? parsed.data : {})) {
      this.entries.set(idOf(jti), Math.max(0, Math.min(0xffff_ffff, Math.ceil(expiresAt))));
    }
    await this.save();
    await unlink(legacyFile).catch(() => undefined);
  }
}
