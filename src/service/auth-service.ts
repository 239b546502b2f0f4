import type { Principal } from '../auth/principal.js';
import type { SecurityStore } from '../auth/security-store.js';
import { secretsEqual, verifyPassword } from '../auth/password.js';
import {
  DEFAULT_TOKEN_SECONDS, FILE_AUDIENCE, MAX_TOKEN_SECONDS, REFRESH_AUDIENCE, SERVICE_AUDIENCE,
  TokenError, type IssuedToken, type TokenService,
} from '../auth/token-service.js';
import { parseDurationSeconds } from '../supervisor/schedule/duration.js';
import type { Authorizer } from './authorize.js';
import { badRequest, unauthorized } from './errors.js';

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  expire_time: number;
  issued_at: number;
  profile: { name: string; group: string; auth_time: number };
  refresh_token?: string;
}

export interface LoginRequest {
  /** The raw `Authorization` header. */
  authorization?: string;
  expireSeconds?: string;
  audience?: string;
}

export interface AuthSettings {
  audiences: () => readonly string[];
}

/** Login and token checks shared by every face. */
export class AuthService {
  constructor(
    private readonly security: SecurityStore,
    private readonly tokens: TokenService,
    private readonly authorizer: Authorizer,
    private readonly settings: AuthSettings,
  ) {}

  async login(request: LoginRequest): Promise<TokenResponse> {
    const { user: name, password } = parseBasicAuth(request.authorization);
    const audience = this.loginAudience(request.audience);
    const lifetime = parseTokenLifetime(request.expireSeconds);
    const user = this.security.user(name);
    // Unknown users and wrong passwords look the same to the caller.
    const passwordOk = user
      ? this.security.encryptKey ? await verifyPassword(password, user.key) : secretsEqual(password, user.key)
      : await verifyPassword(password, DUMMY_HASH);
    if (!user || !passwordOk || user.locked) throw unauthorized('Authentication failed');
    const issued = await this.tokens.issue(name, user.roles, audience, lifetime);
    return tokenResponse(issued, name, user.group);
  }

  /** Verifies an access token for `audience` and returns the caller it identifies. */
  async authenticate(token: string | undefined, audience = SERVICE_AUDIENCE): Promise<Principal> {
    if (!token) throw unauthorized('No authentication token provided');
    let verified;
    try {
      verified = await this.tokens.verify(token, audience);
    } catch (error) {
      throw unauthorized(error instanceof TokenError ? error.message : 'Invalid token');
    }
    const user = this.security.user(verified.subject);
    if (!user) throw unauthorized('user not found');
    if (user.locked) throw unauthorized(`User ${verified.subject} was locked`);
    if (user.token_epoch && verified.issuedAt <= user.token_epoch) throw unauthorized('Token has been revoked');
    return {
      name: verified.subject,
      group: user.group,
      audience,
      tokenId: verified.jti,
      issuedAt: verified.issuedAt,
      expiresAt: verified.expiresAt,
      token,
    };
  }

  /** `POST /appmesh/auth`: the presented token, checked for an audience and a permission. */
  async verifyToken(token: string | undefined, audience: string | undefined, permission: string | undefined): Promise<TokenResponse> {
    const wanted = audience?.trim() || SERVICE_AUDIENCE;
    const principal = await this.authenticate(token, wanted);
    if (permission?.trim()) this.authorizer.authorize(principal, permission.trim());
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = principal.expiresAt ?? now;
    return {
      access_token: principal.token ?? '',
      token_type: 'Bearer',
      expires_in: Math.max(0, expiresAt - now),
      expire_time: expiresAt,
      issued_at: principal.issuedAt ?? now,
      profile: { name: principal.name, group: '', auth_time: principal.issuedAt ?? now },
    };
  }

  private loginAudience(requested: string | undefined): string {
    const audience = requested?.trim() || SERVICE_AUDIENCE;
    if (audience === FILE_AUDIENCE || audience === REFRESH_AUDIENCE) throw badRequest('illegal audience');
    if (!this.settings.audiences().includes(audience)) throw badRequest(`Audience ${audience} verification failed`);
    return audience;
  }
}

// Verifying against a dummy hash keeps the time of "no such user" equal to "wrong password".
const DUMMY_HASH = '$pbkdf2$100000$00000000000000000000000000000000$0000000000000000000000000000000000000000000000000000000000000000';

export function parseBasicAuth(header: string | undefined): { user: string; password: string } {
  if (!header) throw unauthorized('No authentication token provided');
  const match = /^\s*Basic\s+(\S+)\s*$/i.exec(header);
  if (!match) throw badRequest('unrecognized authorization type');
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw badRequest('malformed Basic credentials');
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** `X-Expire-Seconds`: missing or 0 → 7 days; larger than 30 days → clamped; junk → 400. */
export function parseTokenLifetime(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_TOKEN_SECONDS;
  let seconds: number;
  try {
    seconds = parseDurationSeconds(value);
  } catch {
    throw badRequest(`Invalid token expire seconds: ${value.slice(0, 64)}`);
  }
  if (seconds === 0) return DEFAULT_TOKEN_SECONDS;
  return Math.min(seconds, MAX_TOKEN_SECONDS);
}

export function tokenResponse(issued: IssuedToken, name: string, group: string): TokenResponse {
  return {
    access_token: issued.token,
    token_type: 'Bearer',
    expires_in: issued.expiresAt - issued.issuedAt,
    expire_time: issued.expiresAt,
    issued_at: issued.issuedAt,
    profile: { name, group, auth_time: issued.issuedAt },
  };
}

