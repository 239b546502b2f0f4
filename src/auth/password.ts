import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

// Format and bounds of the original store, so its security files can be imported as they are.
const ITERATIONS = 100_000;
const MIN_ITERATIONS = 100_000;
const MAX_ITERATIONS = 1_000_000;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const HASH_PATTERN = /^\$pbkdf2\$(\d+)\$([0-9a-f]+)\$([0-9a-f]+)$/;

/** `$pbkdf2$<iterations>$<hex salt>$<hex key>`, PBKDF2-HMAC-SHA256. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await pbkdf2Async(password, salt, ITERATIONS, KEY_BYTES, 'sha256');
  return `$pbkdf2$${ITERATIONS}$${salt.toString('hex')}$${key.toString('hex')}`;
}

/** Constant-time verification; a stored value in any other format never verifies. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const match = HASH_PATTERN.exec(stored);
  if (!match) return false;
  const iterations = Number(match[1]);
  if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS) return false;
  const salt = Buffer.from(match[2], 'hex');
  const expected = Buffer.from(match[3], 'hex');
  if (expected.length === 0) return false;
  const actual = await pbkdf2Async(password, salt, iterations, expected.length, 'sha256');
  return timingSafeEqual(actual, expected);
}

/** Constant-time comparison of two secrets of any length. */
export function secretsEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  // Compare equal-length buffers so the time does not reveal where they differ.
  const padded = Buffer.alloc(left.length);
  right.copy(padded, 0, 0, Math.min(right.length, left.length));
  return timingSafeEqual(left, padded) && left.length === right.length;
}

export function randomPassword(): string {
  return randomBytes(18).toString('base64url');
}
