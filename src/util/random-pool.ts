import { randomFillSync } from 'node:crypto';

/** Random bytes drawn a page at a time: one call to the system's generator serves many requests. */
const pool = Buffer.alloc(4096);
let used = pool.length;

/**
 * `count` (at most a page) fresh random bytes. Bytes handed out never serve twice, nor stay
 * readable in the pool.
 */
export function takeRandomBytes(count: number): Buffer {
  if (count > pool.length) throw new RangeError(`at most ${pool.length} random bytes at a time`);
  if (used + count > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const bytes = Buffer.from(pool.subarray(used, used + count));
  pool.fill(0, used, used + count);
  used += count;
  return bytes;
}
