import { AppsApi } from './apps.js';
import { AppMeshError } from './errors.js';
import { streamEvents, type AppEvent, type EventOptions } from './events.js';
import { FilesApi } from './files.js';
import { RunsApi } from './runs.js';
import { Session, type SessionOptions } from './session.js';
import { SystemApi } from './system.js';
import { TasksApi } from './tasks.js';
import type { TokenResponse } from './types.js';
import { UsersApi } from './users.js';

export interface LoginOptions {
  /** The current code of the user's authenticator, when 2FA is on. */
  totpCode?: string;
  /** Lifetime of the token in seconds (the daemon bounds it). */
  expireSeconds?: number;
  audience?: string;
}

/**
 * A typed client of the App Mesh REST API. It runs on Node's global fetch and loads nothing of
 * the daemon: every shape it names is a type of the daemon's own schemas.
 *
 *   const client = new AppMeshClient({ url: 'https://127.0.0.1:6060' });
 *   await client.login('admin', password);
 *   for (const app of await client.apps.list()) console.log(app.name, app.status);
 */
export class AppMeshClient {
  readonly session: Session;
  readonly apps: AppsApi;
  readonly runs: RunsApi;
  readonly files: FilesApi;
  readonly users: UsersApi;
  readonly system: SystemApi;
  readonly tasks: TasksApi;

  constructor(options: SessionOptions) {
    this.session = new Session(options);
    this.apps = new AppsApi(this.session);
    this.runs = new RunsApi(this.session);
    this.files = new FilesApi(this.session);
    this.users = new UsersApi(this.session);
    this.system = new SystemApi(this.session);
    this.tasks = new TasksApi(this.session);
  }

  /**
   * Live events (Server-Sent Events) of one app, or of every app with `name` undefined
   * (needs app-view-all): START, EXIT, STDOUT, HEALTH, STATUS, REMOVED.
   */
  events(name: string | undefined, options?: EventOptions): AsyncGenerator<AppEvent & { subscription_id?: string }> {
    return streamEvents(this.session, name, options);
  }

  get url(): string {
    return this.session.url;
  }

  get token(): string | undefined {
    return this.session.token;
  }

  /** Relays every later request to another node of the cluster (`undefined`: this node). */
  forwardTo(host: string | undefined): this {
    this.session.forwardTo = host;
    return this;
  }

  /**
   * `POST /appmesh/login`. A user with 2FA and no code gets an `AppMeshError` of kind
   * `totp-required` whose `challenge` `answerTotp` takes (or log in again with `totpCode`).
   */
  async login(user: string, password: string, options: LoginOptions = {}): Promise<TokenResponse> {
    const answer = await this.session.json<TokenResponse>('POST', '/appmesh/login', {
      auth: false,
      forward: false,
      headers: {
        Authorization: `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`,
        'X-Totp-Code': options.totpCode,
        'X-Expire-Seconds': options.expireSeconds?.toString(),
        'X-Audience': options.audience,
      },
    });
    return this.session.adopt(answer);
  }

  /** `POST /appmesh/totp/validate`: answers a login's TOTP challenge with a code. */
  async answerTotp(user: string, challenge: string, code: string, expireSeconds?: number): Promise<TokenResponse> {
    const answer = await this.session.json<TokenResponse>('POST', '/appmesh/totp/validate', {
      auth: false,
      forward: false,
      body: { user_name: user, totp_challenge: challenge, totp_code: code, ...(expireSeconds ? { expire_seconds: expireSeconds } : {}) },
    });
    return this.session.adopt(answer);
  }

  /** Logs in, asking `askCode` for the TOTP code when the daemon requires one. */
  async loginInteractive(user: string, password: string, askCode: () => Promise<string>, options: LoginOptions = {}): Promise<TokenResponse> {
    try {
      return await this.login(user, password, options);
    } catch (error) {
      if (!(error instanceof AppMeshError) || error.kind !== 'totp-required' || !error.challenge) throw error;
      return this.answerTotp(user, error.challenge.totp_challenge, (await askCode()).trim(), options.expireSeconds);
    }
  }

  /** `POST /appmesh/auth`: checks the token (and a permission, when given); answers its remaining life. */
  authenticate(permission?: string, audience?: string): Promise<TokenResponse> {
    return this.session.json('POST', '/appmesh/auth', { forward: false, headers: { 'X-Permission': permission, 'X-Audience': audience } });
  }

  /** A new token now (the current one is revoked). Tokens are also renewed by themselves when near their end. */
  renew(expireSeconds?: number): Promise<TokenResponse> {
    return this.session.renew(expireSeconds);
  }

  /** Revokes the token (`all`: every session of the user) and forgets it. */
  async logoff(options: { all?: boolean } = {}): Promise<void> {
    if (!this.session.token) return;
    try {
      await this.session.request('POST', '/appmesh/self/logoff', { forward: false, headers: { 'X-Logoff-All': options.all ? 'true' : undefined } });
    } finally {
      this.session.forget();
    }
  }

  /** A new TOTP secret: answers the `otpauth://` URI to show the user (as a QR code or text). */
  async totpSecret(proof: { totpCode?: string; password?: string } = {}): Promise<string> {
    const answer = await this.session.json<{ mfa_uri: string }>('POST', '/appmesh/totp/secret', {
      forward: false,
      headers: { 'X-Totp-Code': proof.totpCode },
      body: proof.password === undefined ? undefined : { password: Buffer.from(proof.password, 'utf8').toString('base64') },
    });
    return Buffer.from(answer.mfa_uri, 'base64').toString('utf8');
  }

  /** Turns 2FA on with a code of the secret from `totpSecret`; the token is renewed. */
  async totpSetup(code: string): Promise<TokenResponse> {
    const answer = await this.session.json<TokenResponse>('POST', '/appmesh/totp/setup', { forward: false, headers: { 'X-Totp-Code': code } });
    return this.session.adopt(answer);
  }

  /** Turns 2FA off for a user (`self` by default). */
  totpDisable(user = 'self'): Promise<string> {
    return this.session.message('POST', `/appmesh/totp/${encodeURIComponent(user)}/disable`, { forward: false });
  }
}
