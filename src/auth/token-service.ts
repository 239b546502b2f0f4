import { randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';

export const SERVICE_AUDIENCE = 'appmesh-service';
export const FILE_AUDIENCE = 'appmesh-file-service';
export const REFRESH_AUDIENCE = 'appmesh-refresh';
export const DEFAULT_TOKEN_SECONDS = 604_800;
export const MAX_TOKEN_SECONDS = 2_592_000;
const CLOCK_LEEWAY_SECONDS = 60;

export interface TokenSettings {
  algorithm: string;
  secret: string;
  issuer: string;
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
  expiresAt: number;
}

export class TokenError extends Error {}

/** Signs and verifies App Mesh JWTs (HS256 with the daemon's generated secret). */
export class TokenService {
  private readonly key: Uint8Array;

  constructor(private readonly settings: TokenSettings) {
    if (settings.algorithm !== 'HS256') throw new Error(`JWT algorithm ${settings.algorithm} is not supported yet; use HS256`);
    if (settings.secret.length < 16) throw new Error('REST.JWT.JWTSalt must be at least 16 characters');
    this.key = new TextEncoder().encode(settings.secret);
  }

  async issue(subject: string, roles: readonly string[], audience: string, lifetimeSeconds: number): Promise<IssuedToken> {
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAt = issuedAt + lifetimeSeconds;
    const jti = randomBytes(12).toString('base64url');
    const token = await new SignJWT({ resource_access: { [SERVICE_AUDIENCE]: { roles: [...roles] } } })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.settings.issuer)
      .setSubject(subject)
      .setAudience(audience)
      .setIssuedAt(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(jti)
      .sign(this.key);
    return { token, jti, issuedAt, expiresAt };
  }

  /** Signature, algorithm, issuer, audience and expiry (60 s leeway); user checks come after. */
  async verify(token: string, audience: string): Promise<VerifiedToken> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: this.settings.issuer,
        audience,
        clockTolerance: CLOCK_LEEWAY_SECONDS,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      return {
        subject: String(payload.sub),
        audience,
        jti: typeof payload.jti === 'string' ? payload.jti : '',
        issuedAt: Number(payload.iat),
        expiresAt: Number(payload.exp),
      };
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new TokenError('Token has expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'aud') throw new TokenError(`Audience ${audience} verification failed`);
      throw new TokenError('Invalid token');
    }
  }
}
