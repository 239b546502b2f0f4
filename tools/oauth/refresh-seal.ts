import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'amcp-rt.';
const CONTEXT = Buffer.from('appmesh-mcp-refresh');
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The bridge hands out its App Mesh refresh token sealed (AES-256-GCM, key derived from the
 * daemon's JWT secret): only the bridge's /token opens it, so it cannot be renewed through the
 * REST API into a token of the REST audience. Stateless, and valid across restarts like the JWTs.
 */
export class RefreshSeal {
  private cached?: { secret: string; key: Buffer };

  constructor(private readonly secret: () => string) {}

  seal(refreshToken: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key(), iv).setAAD(CONTEXT);
    const sealed = Buffer.concat([cipher.update(refreshToken, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString('base64url');
  }

  /** The App Mesh refresh token inside, or undefined when this is not one the bridge sealed. */
  open(token: string): string | undefined {
    if (!token.startsWith(PREFIX)) return undefined;
    const raw = Buffer.from(token.slice(PREFIX.length), 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key(), raw.subarray(0, IV_BYTES)).setAAD(CONTEXT);
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }

  private key(): Buffer {
    const secret = this.secret();
    if (this.cached?.secret !== secret) {
      // A rotated JWT secret invalidates sealed refresh tokens along with every JWT.
      this.cached = { secret, key: Buffer.from(hkdfSync('sha256', secret || randomBytes(32), Buffer.alloc(0), CONTEXT, 32)) };
    }
    return this.cached.key;
  }
}
