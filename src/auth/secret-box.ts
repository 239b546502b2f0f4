import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'v3:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Authenticated encryption of stored secrets (`sec_env`): AES-256-GCM with a key derived per
 * owner from the daemon's master key, so one owner's ciphertext cannot be moved to another.
 */
export class SecretBox {
  constructor(private readonly masterKey: Buffer) {
    if (masterKey.length < 32) throw new Error('master key must be at least 32 bytes');
  }

  encrypt(owner: string, plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keyFor(owner), iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  decrypt(owner: string, sealed: string): string {
    if (!sealed.startsWith(PREFIX)) throw new Error('unsupported secret format');
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.keyFor(owner), raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }

  encryptMap(owner: string, map: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(map).map(([key, value]) => [key, this.encrypt(owner, value)]));
  }

  decryptMap(owner: string, map: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(map).map(([key, value]) => [key, this.decrypt(owner, value)]));
  }

  private keyFor(owner: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.masterKey, Buffer.alloc(0), `appmesh sec_env ${owner}`, 32));
  }
}
