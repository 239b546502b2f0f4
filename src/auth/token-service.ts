import { randomBytes, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CryptoKey, JWTPayload } from 'jose';

/** Not needed to start (the HS256 key is imported with WebCrypto): loaded at the first token, or by `warm`. */
let joseModule: Promise<typeof import('jose')> | undefined;
const jose = () => (joseModule ??= import('jose'));

export const SERVICE_AUDIENCE = 'appmesh-service';
export const FILE_AUDIENCE = 'appmesh-file-service';
export const REFRESH_AUDIENCE = 'appmesh-refresh';
/** Tokens issued through the MCP OAuth bridge: accepted by /mcp, refused by the REST API. */
export const MCP_AUDIENCE = 'appmesh-mcp';
export const DEFAULT_TOKEN_SECONDS = 604_800;
export const MAX_TOKEN_SECONDS = 2_592_000;
/** Clock difference tolerated between nodes: a token is refused at most this long after it expired. */
export const CLOCK_LEEWAY_SECONDS = 5;

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface TokenSettings {
  algorithm: JwtAlgorithm;
  /** HS256 secret. */
  secret: string;
  issuer: string;
  /** Folder of the PEM key pairs for RS256 (`jwt-private.pem`) and ES256 (`jwt-ec-private.pem`). */
  keyDir: string;
}

export interface IssuedToken {
  token: string;
  jti: string;
  issuedAt: number;
  expiresAt: number;
}

export interface VerifiedToken {
  subject: string;
  audience: string;
  jti: string;
  issuedAt: number;
  /** Millisecond issue time (our private claim; falls back to `iat`). */
  issuedAtMs: number;
  expiresAt: number;
}

export class TokenError extends Error {}

interface SigningKeys {
  sign: Uint8Array | CryptoKey;
  verify: Uint8Array | CryptoKey;
}

/**
 * Signature checks already passed, by token and audience: a repeated token skips the signature
 * and claim work, never the expiry. Only what the token's own bytes prove is kept here; whether
 * it is revoked, or its user deleted, locked or given a new password, is asked at every use.
 */
const VERIFIED_CACHE_ENTRIES = 1024;
const VERIFIED_CACHE_MS = 60_000;

interface CachedVerification {
  verified: VerifiedToken;
  /** Dropped after this, however often it is used. */
  untilMs: number;
}

/** Signs and verifies App Mesh JWTs; only the configured algorithm is ever accepted. */
export class TokenService {
  private readonly verifiedCache = new Map<string, CachedVerification>();

  private constructor(private readonly settings: TokenSettings, private readonly keys: SigningKeys) {}

  static async create(settings: TokenSettings): Promise<TokenService> {
    return new TokenService(settings, await loadKeys(settings));
  }

  get algorithm(): JwtAlgorithm {
    return this.settings.algorithm;
  }

  async issue(subject: string, roles: readonly string[], audience: string, lifetimeSeconds: number): Promise<IssuedToken> {
    const nowMs = Date.now();
    const issuedAt = Math.floor(nowMs / 1000);
    const expiresAt = issuedAt + lifetimeSeconds;
    const jti = randomBytes(12).toString('base64url');
    const { SignJWT } = await jose();
    const token = await new SignJWT({ resource_access: { [SERVICE_AUDIENCE]: { roles: [...roles] } }, iat_ms: nowMs })
      .setProtectedHeader({ alg: this.settings.algorithm, typ: 'JWT' })
      .setIssuer(this.settings.issuer)
      .setSubject(subject)
      .setAudience(audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(jti)
      .sign(this.keys.sign);
    return { token, jti, issuedAt, expiresAt };
  }

  /** Signature, algorithm, issuer, audience and expiry (a few seconds of leeway); user checks come after. */
  async verify(token: string, audience: string): Promise<VerifiedToken> {
    const key = `${audience}\n${token}`;
    const nowMs = Date.now();
    const cached = this.verifiedCache.get(key);
    if (cached) {
      if (cached.untilMs > nowMs && (cached.verified.expiresAt + CLOCK_LEEWAY_SECONDS) * 1000 > nowMs) return { ...cached.verified };
      this.verifiedCache.delete(key);
    }
    const verified = await this.verifySignature(token, audience);
    if (this.verifiedCache.size >= VERIFIED_CACHE_ENTRIES) this.verifiedCache.delete(this.verifiedCache.keys().next().value!);
    this.verifiedCache.set(key, { verified, untilMs: nowMs + VERIFIED_CACHE_MS });
    return { ...verified };
  }

  private async verifySignature(token: string, audience: string): Promise<VerifiedToken> {
    let payload: JWTPayload;
    const { jwtVerify, errors: joseErrors } = await jose();
    try {
      ({ payload } = await jwtVerify(token, this.keys.verify, {
        algorithms: [this.settings.algorithm],
        issuer: this.settings.issuer,
        audience,
        clockTolerance: CLOCK_LEEWAY_SECONDS,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new TokenError('Token has expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') throw new TokenError(`Audience ${audience} verification failed`);
      throw new TokenError('Invalid token');
    }
    const issuedAt = Number(payload.iat);
    return {
      subject: String(payload.sub),
      audience,
      jti: String(payload.jti),
      issuedAt,
      issuedAtMs: typeof payload.iat_ms === 'number' ? payload.iat_ms : issuedAt * 1000,
      expiresAt: Number(payload.exp),
    };
  }

  /** Reads claims without verifying them (only to copy an audience or expire a revocation). */
  static peek(token: string): { aud?: string; exp?: number; jti?: string; sub?: string } | undefined {
    try {
      const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
      return {
        aud: typeof payload.aud === 'string' ? payload.aud : undefined,
        exp: typeof payload.exp === 'number' ? payload.exp : undefined,
        jti: typeof payload.jti === 'string' ? payload.jti : undefined,
        sub: typeof payload.sub === 'string' ? payload.sub : undefined,
      };
    } catch {
      return undefined;
    }
  }
}

async function loadKeys(settings: TokenSettings): Promise<SigningKeys> {
  switch (settings.algorithm) {
    case 'HS256': {
      if (settings.secret.length < 16) throw new Error('REST.JWT.JWTSalt must be at least 16 characters');
      // Imported once: given raw bytes, jose imports the key again at every signature.
      const key = await webcrypto.subtle.importKey('raw', new TextEncoder().encode(settings.secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
      return { sign: key, verify: key };
    }
    case 'RS256':
    case 'ES256': {
      const prefix = settings.algorithm === 'RS256' ? 'jwt' : 'jwt-ec';
      const read = (name: string) => readFile(join(settings.keyDir, name), 'utf8').catch(() => {
        throw new Error(`${settings.algorithm} needs the PEM file ${name} in the ssl folder of the home`);
      });
      const { importPKCS8, importSPKI } = await jose();
      return {
        sign: await importPKCS8(await read(`${prefix}-private.pem`), settings.algorithm),
        verify: await importSPKI(await read(`${prefix}-public.pem`), settings.algorithm),
      };
    }
  }
}
