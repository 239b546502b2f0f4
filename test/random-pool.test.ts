import { describe, expect, test } from 'vitest';
import { takeRandomBytes } from '../src/util/random-pool.js';

describe('random bytes drawn from a page', () => {
  test('every draw is fresh, across many page refills, and is its own copy', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 2000; index++) {
      const bytes = takeRandomBytes(24);
      expect(bytes).toHaveLength(24);
      seen.add(bytes.toString('hex'));
    }
    expect(seen.size).toBe(2000);
    const kept = takeRandomBytes(16);
    const copy = Buffer.from(kept);
    for (let index = 0; index < 300; index++) takeRandomBytes(24);
    expect(kept.equals(copy)).toBe(true);
  });

  test('more than a page at once is refused', () => {
    expect(() => takeRandomBytes(4097)).toThrow(RangeError);
  });
});
