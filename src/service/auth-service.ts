import { randomBytes } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import type { SecurityStore, StoredUser } from '../auth/security-store.js';
import { secretsEqual, verifyPassword } from '../auth/password.js';
import type { LoginAttempt, LoginThrottle } from '../auth/login-throttle.js';
import { RateLimit } from '../auth/rate-limit.js';
import type { TokenBlacklist } from '../auth/token-blacklist.js';
import type * as TotpModule from '../auth/totp.js';
import {
  DEFAULT_TOKEN_SECONDS, FILE_AUDIENCE, MAX_TOKEN_SECONDS, MCP_AUDIENCE, REFRESH_AUDIENCE, SERVICE_AUDIENCE,
  TokenError, TokenService, type IssuedToken, type VerifiedToken,
} from '../auth/token-service.js';
import { parseDurationSeconds } from '../supervisor/schedule/duration.js';
import type { Authorizer } from './authorize.js';
import { badRequest, notFound, ServiceError, tooManyRequests, unauthorized } from './errors.js';

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
  totpCode?: string;
  refreshTokenRequest?: boolean;
  /** Client address, for rate limiting and the audit log. */
  client: string;
}

export interface RenewRequest {
  accessToken?: string;
  refreshToken?: string;
  expireSeconds?: string;
  refreshTokenRequest?: boolean;
  client: string;
  /** The MCP bridge keeps what it renews bound to MCP_AUDIENCE. */
  audience?: typeof MCP_AUDIENCE;
}

/** What proves that the holder of a token is the user: a current TOTP code or the password. */
export interface TotpResetProof {
  totpCode?: string;
  /** The request body: `{"password": "<base64>"}`, or nothing. */
  body?: unknown;
}

export interface TotpValidateRequest {
  body: unknown;
  client: string;
}

export interface AuthSettings {
  audiences: () => readonly string[];
}

/** Only users with 2FA need the TOTP library: loaded at the first use. */
let totpModule: Promise<typeof TotpModule> | undefined;
const totp = () => (totpModule ??= import('../auth/totp.js'));

const CHALLENGE_SECONDS = 180;
/** Renewals per user: a few at once, then a steady trickle (each one adds to the revocation list). */
const RENEWALS = { burst: 5, perSecond: 2 };
const INVALID_CHALLENGE = 'Invalid or expired TOTP challenge';

interface PendingChallenge {
  challenge: string;
  expiresAtMs: number;
  audience: string;
  lifetime: number;
  refreshTokenRequest: boolean;
}

/** Login, tokens (issue, verify, renew, revoke, refresh) and TOTP, shared by every face. */
export class AuthService {
  private readonly challenges = new Map<string, PendingChallenge>();
  private readonly renewals = new RateLimit(RENEWALS);
  /** Recent time of one password check, so a refusal without a check takes about as long. */
  private passwordCheckMs = 50;

  constructor(
    private readonly security: SecurityStore,
    private readonly tokens: TokenService,
    private readonly blacklist: TokenBlacklist,
    private readonly throttle: LoginThrottle,
    private readonly authorizer: Authorizer,
    private readonly audit: AuditLog,
    private readonly settings: AuthSettings,
  ) {}

  async login(request: LoginRequest): Promise<TokenResponse> {
    const { user: name, password } = parseBasicAuth(request.authorization);
    const audience = this.loginAudience(request.audience);
    const lifetime = parseTokenLifetime(request.expireSeconds);
    const attempt: LoginAttempt = { user: name, client: request.client, known: this.security.user(name) !== undefined };
    const release = await this.throttle.turn(attempt);
    if (!release) throw tooManyRequests('Too many logins at once from this client, retry in 1 s', 1);
    let user: StoredUser | undefined;
    let passwordOk = false;
    let othersWait = 0;
    try {
      const wait = this.throttle.retryAfterMs(attempt);
      if (wait > 0) {
        this.audit.record({ event: 'login.throttled', user: name, client: request.client, outcome: 'failure' });
        throw throttled(wait);
      }
      // Unknown names from this client are held back; a known user's wrong password is answered
      // the same meanwhile (below), so the answer does not tell which names exist.
      othersWait = this.throttle.unknownNamesRetryAfterMs(request.client);
      user = this.security.user(name);
      if (user || othersWait === 0) {
        passwordOk = await this.checkPassword(user, password);
        if (!user || !passwordOk || user.locked) this.throttle.recordFailure(attempt);
      }
    } finally {
      release();
    }
    if (!user || !passwordOk || user.locked) {
      this.audit.record({ event: 'login', user: name, client: request.client, outcome: 'failure', detail: user?.locked && passwordOk ? 'locked' : undefined });
      if (othersWait > 0) {
        // As long as a password check would have taken, outside the turn.
        if (!user) await delay(this.passwordCheckMs);
        throw throttled(othersWait);
      }
      throw unauthorized('Authentication failed');
    }
    if (user.mfa_enabled && user.mfa_key) {
      const code = request.totpCode?.trim();
      if (!code) return this.challenge(name, audience, lifetime, Boolean(request.refreshTokenRequest));
      await this.checkTotp(name, user, code, request.client);
    }
    this.throttle.recordSuccess(attempt);
    this.audit.record({ event: 'login', user: name, client: request.client, outcome: 'success' });
    return this.issueTokens(name, user, audience, lifetime, Boolean(request.refreshTokenRequest));
  }

  /** Verifies an access token for `audience` and returns the caller it identifies. */
  async authenticate(token: string | undefined, audience = SERVICE_AUDIENCE, client?: string): Promise<Principal> {
    if (!token) throw unauthorized('No authentication token provided');
    if (audience === REFRESH_AUDIENCE) throw unauthorized('A refresh token is not an access token');
    const verified = await this.verifyFor(token, audience);
    const user = this.security.user(verified.subject)!;
    return {
      name: verified.subject,
      group: user.group,
      audience,
      tokenId: verified.jti,
      issuedAt: verified.issuedAt,
      expiresAt: verified.expiresAt,
      token,
      client,
    };
  }

  /** `POST /appmesh/auth`: the presented token, checked for an audience and a permission. */
  async verifyToken(token: string | undefined, audience: string | undefined, permission: string | undefined): Promise<TokenResponse> {
    const principal = await this.authenticate(token, audience?.trim() || SERVICE_AUDIENCE);
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

  /**
   * `POST /appmesh/token/renew`. With a refresh token: it is the only credential, used once,
   * and a new pair is issued. Without: the access token is exchanged for a new one and revoked.
   */
  async renew(request: RenewRequest): Promise<TokenResponse> {
    if (request.refreshToken) {
      const refresh = await this.verifyFor(request.refreshToken, REFRESH_AUDIENCE, 'Refresh token has been revoked');
      const user = this.security.user(refresh.subject)!;
      this.authorizer.authorize({ name: refresh.subject, group: user.group, audience: REFRESH_AUDIENCE }, 'user-token-renew');
      this.takeRenewal(refresh.subject);
      if (!(await this.blacklist.revoke(refresh.jti, refresh.expiresAt))) throw unauthorized('Refresh token has been revoked');
      const presented = request.accessToken ? TokenService.peek(request.accessToken)?.aud : undefined;
      const audience = request.audience ?? (presented && presented !== FILE_AUDIENCE && presented !== REFRESH_AUDIENCE && this.settings.audiences().includes(presented) ? presented : SERVICE_AUDIENCE);
      this.audit.record({ event: 'token.refresh', user: refresh.subject, client: request.client, outcome: 'success' });
      return this.issueTokens(refresh.subject, user, audience, parseTokenLifetime(request.expireSeconds), true);
    }
    const current = await this.verifyFor(request.accessToken, TokenService.peek(request.accessToken ?? '')?.aud ?? SERVICE_AUDIENCE);
    if (current.audience === REFRESH_AUDIENCE) throw unauthorized('A refresh token is not an access token');
    const user = this.security.user(current.subject)!;
    this.authorizer.authorize({ name: current.subject, group: user.group, audience: current.audience }, 'user-token-renew');
    const lifetime = parseTokenLifetime(request.expireSeconds);
    this.takeRenewal(current.subject);
    // Revoked before the new one is issued: two renewals of one token cannot both succeed.
    if (!(await this.blacklist.revoke(current.jti, current.expiresAt))) throw unauthorized('Token has been revoked');
    const response = await this.issueTokens(current.subject, user, current.audience, lifetime, Boolean(request.refreshTokenRequest));
    this.audit.record({ event: 'token.renew', user: current.subject, client: request.client, outcome: 'success' });
    return response;
  }

  /** `POST /appmesh/self/logoff`: revokes the access token and/or the refresh token presented. */
  async logoff(accessToken: string | undefined, refreshToken: string | undefined, client: string): Promise<void> {
    const revoked: string[] = [];
    for (const [token, audience] of [[accessToken, undefined], [refreshToken, REFRESH_AUDIENCE]] as const) {
      if (!token) continue;
      const wanted = audience ?? TokenService.peek(token)?.aud ?? SERVICE_AUDIENCE;
      if (!audience && wanted === REFRESH_AUDIENCE) continue;
      try {
        const verified = await this.verifyFor(token, wanted);
        await this.blacklist.revoke(verified.jti, verified.expiresAt);
        revoked.push(verified.subject);
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
      }
    }
    if (revoked.length === 0) throw unauthorized('Logoff requires a valid access token or refresh token');
    this.audit.record({ event: 'token.revoke', user: revoked[0], client, outcome: 'success' });
  }

  /**
   * `POST /appmesh/totp/secret`: a new secret, pending until `setup` confirms a code of it. While
   * 2FA is on, the token alone is not enough (it may be stolen): a current code or the password is
   * needed, and the active secret stays in force until the new one is confirmed.
   */
  async totpSecret(principal: Principal, proof: TotpResetProof = {}): Promise<{ mfa_uri: string }> {
    this.authorizer.authorize(principal, 'user-totp-active');
    const user = this.requireUser(principal.name);
    const client = principal.client ?? '';
    if (user.mfa_enabled && user.mfa_key) {
      const code = proof.totpCode?.trim();
      const password = passwordOf(proof.body);
      if (code) await this.checkTotp(principal.name, user, code, client);
      else if (password !== undefined) await this.checkOwnPassword(principal.name, user, password, client);
      else {
        this.audit.record({ event: 'totp.secret', user: principal.name, client, outcome: 'failure', detail: 'no proof' });
        throw badRequest('2FA is on: replacing its secret needs a current TOTP code or the password (X-Totp-Code header, or {"password": "<base64>"} as body)');
      }
    }
    const { newTotpSecret, totpUri } = await totp();
    const secret = newTotpSecret();
    await this.security.update((doc) => {
      doc.Users[principal.name].mfa_pending_key = secret;
    });
    this.audit.record({ event: 'totp.secret', user: principal.name, client, outcome: 'success' });
    return { mfa_uri: Buffer.from(totpUri(principal.name, secret)).toString('base64') };
  }

  /** `POST /appmesh/totp/setup`: a valid code turns 2FA on, then the token is renewed. */
  async totpSetup(principal: Principal, code: string | undefined): Promise<TokenResponse> {
    await this.totpEnable(principal, code);
    return this.renew({ accessToken: principal.token, client: principal.client ?? '' });
  }

  /** Turns 2FA on with a valid code of the pending secret (without touching the caller's token). */
  async totpEnable(principal: Principal, code: string | undefined): Promise<void> {
    this.authorizer.authorize(principal, 'user-totp-active');
    const user = this.requireUser(principal.name);
    // Before pending secrets had a field of their own, a secret with 2FA off was the pending one.
    const pending = user.mfa_pending_key ?? (!user.mfa_enabled && user.mfa_key ? user.mfa_key : undefined);
    if (!pending) throw badRequest('please generate TOTP secret first');
    const step = await this.verifyCode(principal.name, pending, undefined, code ?? '', principal.client ?? '');
    let replaced = false;
    await this.security.update((doc) => {
      const stored = doc.Users[principal.name];
      const stillPending = stored?.mfa_pending_key ?? (!stored?.mfa_enabled && stored?.mfa_key ? stored.mfa_key : undefined);
      if (stillPending !== pending) return;
      stored.mfa_key = pending;
      stored.mfa_enabled = true;
      stored.mfa_last_step = step;
      delete stored.mfa_pending_key;
      replaced = true;
    });
    if (!replaced) throw badRequest('The pending TOTP secret changed meanwhile; generate a new one');
    this.audit.record({ event: 'totp.enable', user: principal.name, client: principal.client, outcome: 'success' });
  }

  /**
   * `POST /appmesh/totp/validate`: answers a login challenge with a code. An unknown user, a user
   * without 2FA and a wrong or expired challenge get the same answer: it must not tell who exists.
   */
  async totpValidate(request: TotpValidateRequest): Promise<TokenResponse> {
    const body = request.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
    const { user_name: name, totp_challenge: challenge, totp_code: code, expire_seconds: expireSeconds } = body as Record<string, unknown>;
    if (typeof name !== 'string' || !name) throw badRequest('user_name is required');
    if (typeof code !== 'string' || !code.trim()) throw badRequest('totp_code is required');
    const pending = this.challenges.get(name);
    const user = this.security.user(name);
    // One comparison whatever is missing, so every refusal costs the same.
    const expected = pending?.challenge ?? DUMMY_CHALLENGE;
    const matches = secretsEqual(typeof challenge === 'string' ? challenge : '', expected);
    if (!pending || !matches || pending.expiresAtMs < Date.now() || !user?.mfa_enabled || !user.mfa_key) {
      this.audit.record({ event: 'totp.verify', user: name, client: request.client, outcome: 'failure', detail: 'challenge' });
      throw unauthorized(INVALID_CHALLENGE);
    }
    await this.checkTotp(name, user, code, request.client);
    this.challenges.delete(name);
    const lifetime = expireSeconds === undefined || expireSeconds === null ? pending.lifetime : parseTokenLifetime(String(expireSeconds));
    this.audit.record({ event: 'login', user: name, client: request.client, outcome: 'success', detail: 'totp' });
    return this.issueTokens(name, user, pending.audience, lifetime, pending.refreshTokenRequest);
  }

  /** `POST /appmesh/totp/{user}/disable`: one's own, or anyone's for `admin`. */
  async totpDisable(principal: Principal, target: string): Promise<string> {
    this.authorizer.authorize(principal, 'user-totp-disable');
    const name = target === 'self' ? principal.name : target;
    if (!this.security.user(name)) throw notFound('user not found');
    if (name !== principal.name && principal.name !== 'admin') throw badRequest('Only admin can disable 2FA of another user');
    await this.security.update((doc) => {
      const user = doc.Users[name];
      user.mfa_enabled = false;
      user.mfa_key = '';
      delete user.mfa_pending_key;
      delete user.mfa_last_step;
    });
    this.audit.record({ event: 'totp.disable', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    return '2FA deactive success';
  }

  /** Every token check: signature and claims, then revocation and the user's current state. */
  private async verifyFor(token: string | undefined, audience: string, revokedMessage = 'Token has been revoked'): Promise<VerifiedToken> {
    if (!token) throw unauthorized('No authentication token provided');
    let verified: VerifiedToken;
    try {
      verified = await this.tokens.verify(token, audience);
    } catch (error) {
      throw unauthorized(error instanceof TokenError ? error.message : 'Invalid token');
    }
    if (this.blacklist.has(verified.jti)) throw unauthorized(revokedMessage);
    const user = this.security.user(verified.subject);
    if (!user) throw unauthorized('user not found');
    if (user.locked) throw unauthorized(`User ${verified.subject} was locked`);
    const epochMs = user.token_epoch_ms ?? (user.token_epoch ? user.token_epoch * 1000 + 999 : 0);
    if (epochMs && verified.issuedAtMs <= epochMs) throw unauthorized('Token has been revoked');
    return verified;
  }

  private async issueTokens(name: string, user: StoredUser, audience: string, lifetime: number, withRefresh: boolean): Promise<TokenResponse> {
    const issued = await this.tokens.issue(name, user.roles, audience, lifetime);
    const response = tokenResponse(issued, name, user.group);
    if (withRefresh) {
      const refreshLifetime = Math.min(MAX_TOKEN_SECONDS, Math.max(2 * lifetime, lifetime + 3600));
      response.refresh_token = (await this.tokens.issue(name, user.roles, REFRESH_AUDIENCE, refreshLifetime)).token;
    }
    return response;
  }

  /** A code of the user's active secret, used once (its step is remembered before answering). */
  private async checkTotp(name: string, user: StoredUser, code: string, client: string): Promise<void> {
    const step = await this.verifyCode(name, user.mfa_key, user.mfa_last_step, code, client);
    // Remember the step before answering: the same code must not work twice, even when two
    // clients present it at the same moment (updates are serialised; the second sees the first).
    let replayed = false;
    await this.security.update((doc) => {
      const last = doc.Users[name].mfa_last_step;
      if (last !== undefined && step <= last) replayed = true;
      else doc.Users[name].mfa_last_step = step;
    });
    if (replayed) {
      this.audit.record({ event: 'totp.verify', user: name, client, outcome: 'failure', detail: 'replayed' });
      throw unauthorized('Invalid TOTP token');
    }
  }

  /** Checks a code of `secret`; codes are guessed like passwords, so the same turns and back-off apply. */
  private async verifyCode(name: string, secret: string, lastStep: number | undefined, code: string, client: string): Promise<number> {
    const attempt: LoginAttempt = { user: name, client, known: true };
    const release = await this.throttle.turn(attempt);
    if (!release) throw tooManyRequests('Too many attempts at once from this client, retry in 1 s', 1);
    let step: number | undefined;
    try {
      const wait = this.throttle.retryAfterMs(attempt);
      if (wait > 0) throw tooManyRequests(`Too many failed attempts, retry in ${Math.ceil(wait / 1000)} s`, Math.ceil(wait / 1000));
      step = await (await totp()).verifyTotp(secret, code, lastStep);
      if (step === undefined) this.throttle.recordFailure(attempt);
    } finally {
      release();
    }
    if (step === undefined) {
      this.audit.record({ event: 'totp.verify', user: name, client, outcome: 'failure' });
      throw unauthorized('Invalid TOTP token');
    }
    return step;
  }

  /** The password of a signed-in user, as a proof for a sensitive change: throttled like a login. */
  private async checkOwnPassword(name: string, user: StoredUser, password: string, client: string): Promise<void> {
    const attempt: LoginAttempt = { user: name, client, known: true };
    const release = await this.throttle.turn(attempt);
    if (!release) throw tooManyRequests('Too many attempts at once from this client, retry in 1 s', 1);
    let ok = false;
    try {
      const wait = this.throttle.retryAfterMs(attempt);
      if (wait > 0) throw throttled(wait);
      ok = await this.checkPassword(user, password);
      if (!ok) this.throttle.recordFailure(attempt);
    } finally {
      release();
    }
    if (!ok) {
      this.audit.record({ event: 'user.verify', user: name, client, outcome: 'failure' });
      throw unauthorized('Authentication failed');
    }
  }

  /** Unknown users and wrong passwords cost the same time (a dummy hash is checked). */
  private async checkPassword(user: StoredUser | undefined, password: string): Promise<boolean> {
    const started = performance.now();
    const ok = user
      ? this.security.encryptKey ? await verifyPassword(password, user.key) : secretsEqual(password, user.key)
      : await verifyPassword(password, DUMMY_HASH);
    if (!user || this.security.encryptKey) this.passwordCheckMs = 0.8 * this.passwordCheckMs + 0.2 * (performance.now() - started);
    return ok;
  }

  private takeRenewal(name: string): void {
    const wait = this.renewals.take(name);
    if (wait > 0) throw tooManyRequests(`Too many token renewals, retry in ${Math.ceil(wait / 1000)} s`, Math.ceil(wait / 1000));
  }

  private requireUser(name: string): StoredUser {
    const user = this.security.user(name);
    if (!user) throw unauthorized('user not found');
    return user;
  }

  private async challenge(name: string, audience: string, lifetime: number, refreshTokenRequest: boolean): Promise<never> {
    const { TOTP_DIGITS, TOTP_PERIOD } = await totp();
    const challenge = randomBytes(24).toString('base64url');
    const expiresAtMs = Date.now() + CHALLENGE_SECONDS * 1000;
    this.challenges.set(name, { challenge, expiresAtMs, audience, lifetime, refreshTokenRequest });
    throw new ServiceError(428, 'TOTP code required', false, { 'WWW-Authenticate': 'TOTP realm="TOTP Authentication", qop="auth"' }, {
      status: 'TOTP_CHALLENGE_REQUIRED',
      totp_challenge: challenge,
      digits: TOTP_DIGITS,
      algorithm: 'SHA1',
      period: TOTP_PERIOD,
      expires: Math.floor(expiresAtMs / 1000),
    });
  }

  private loginAudience(requested: string | undefined): string {
    const audience = requested?.trim() || SERVICE_AUDIENCE;
    if (audience === FILE_AUDIENCE || audience === REFRESH_AUDIENCE) throw badRequest('illegal audience');
    if (audience !== MCP_AUDIENCE && !this.settings.audiences().includes(audience)) throw badRequest(`Audience ${audience} verification failed`);
    return audience;
  }
}

// Verifying against a dummy hash keeps the time of "no such user" equal to "wrong password".
const DUMMY_HASH = `$pbkdf2$100000$${'0'.repeat(32)}$${'0'.repeat(64)}`;
const DUMMY_CHALLENGE = randomBytes(24).toString('base64url');

function throttled(waitMs: number): ServiceError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return tooManyRequests(`Too many failed logins, retry in ${seconds} s`, seconds);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `{"password": "<base64>"}`: the password, undefined when there is none; other shapes are 400. */
function passwordOf(body: unknown): string | undefined {
  if (body === undefined || body === null || body === '') return undefined;
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest('Request body must be a JSON object');
  const value = (body as Record<string, unknown>).password;
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/=_-]*$/.test(value)) throw badRequest('password must be base64');
  return Buffer.from(value, 'base64').toString('utf8');
}

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

