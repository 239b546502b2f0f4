import { AppMeshError, errorFromAnswer, unreachable } from './errors.js';
import type { TokenResponse } from './types.js';

export interface SessionOptions {
  /** The daemon's base URL, e.g. `https://127.0.0.1:6060` (a bare `host:port` means https). */
  url: string;
  /** A token from an earlier login (renewed when it nears its end). */
  token?: string;
  /** `host:port` of another node of the cluster: requests are relayed there (`X-Target-Host`). */
  forwardTo?: string;
  /** Renew the token once less than this share of its lifetime is left (default 0.1; 0: never). */
  renewAtRemainingShare?: number;
  /** Told of every new token (login, renewal, TOTP) and of the end of the session (undefined). */
  onToken?: (token: TokenResponse | undefined) => void;
  /** Bound on each request without a signal of its own, in milliseconds (default none). */
  timeoutMs?: number;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Told of each request once answered (status 0: no answer), e.g. for a verbose log. */
  onExchange?: (exchange: { method: string; url: string; status: number; ms: number }) => void;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  headers?: Record<string, string | undefined>;
  /** A plain object or array is sent as JSON; bytes and streams as they are. */
  body?: unknown;
  signal?: AbortSignal;
  /** Send the token (default true). */
  auth?: boolean;
  /** Relay to `forwardTo` when set (default true; logins and renewals stay on this node). */
  forward?: boolean;
}

/** Claims read from a JWT without verifying it: only to know when to renew. */
function tokenTimes(token: string): { issuedAt?: number; expiresAt?: number } {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iat?: unknown; exp?: unknown };
    return { issuedAt: typeof payload.iat === 'number' ? payload.iat : undefined, expiresAt: typeof payload.exp === 'number' ? payload.exp : undefined };
  } catch {
    return {};
  }
}

export function normalizeUrl(url: string): string {
  const trimmed = url.trim().replace(/\/+$/, '');
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}

/**
 * One logged-on conversation with a daemon: carries the token, renews it before it ends, relays
 * to another node on request, and turns every failure into an `AppMeshError`.
 */
export class Session {
  readonly url: string;
  forwardTo?: string;
  private currentToken?: string;
  private renewing?: Promise<void>;
  private readonly options: SessionOptions;

  constructor(options: SessionOptions) {
    this.options = options;
    this.url = normalizeUrl(options.url);
    this.forwardTo = options.forwardTo;
    this.currentToken = options.token;
  }

  get token(): string | undefined {
    return this.currentToken;
  }

  /** Adopts a token answer (login, renewal, TOTP) and tells the owner. */
  adopt(answer: TokenResponse): TokenResponse {
    this.currentToken = answer.access_token;
    this.options.onToken?.(answer);
    return answer;
  }

  /** Forgets the token (after logoff). */
  forget(): void {
    this.currentToken = undefined;
    this.options.onToken?.(undefined);
  }

  /** Sends a request; any answer but 2xx throws an `AppMeshError`. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    if (options.auth !== false) await this.renewIfDue();
    const target = new URL(path, `${this.url}/`);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) target.searchParams.set(key, String(value));
    const headers: Record<string, string> = { ...this.options.headers };
    for (const [key, value] of Object.entries(options.headers ?? {})) if (value !== undefined) headers[key] = value;
    if (options.auth !== false && this.currentToken && !headers.Authorization) headers.Authorization = `Bearer ${this.currentToken}`;
    if (options.forward !== false && this.forwardTo) headers['X-Target-Host'] = this.forwardTo;
    const init: RequestInit & { duplex?: 'half' } = { method, headers };
    const body = options.body;
    if (body !== undefined) {
      if (isPlainData(body)) {
        init.body = JSON.stringify(body);
        headers['Content-Type'] ??= 'application/json';
      } else {
        init.body = body as BodyInit;
        // Streams go out as they are read.
        if (!(typeof body === 'string' || body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob)) init.duplex = 'half';
      }
    }
    init.signal = options.signal ?? (this.options.timeoutMs ? AbortSignal.timeout(this.options.timeoutMs) : undefined);
    let response: Response;
    const started = performance.now();
    const report = (status: number) => this.options.onExchange?.({ method, url: target.href, status, ms: performance.now() - started });
    try {
      response = await fetch(target, init);
    } catch (error) {
      report(0);
      if (options.signal?.aborted) throw error;
      throw unreachable(this.url, error);
    }
    report(response.status);
    if (response.ok) return response;
    throw errorFromAnswer(response.status, await readBody(response), response.headers);
  }

  async json<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
    const response = await this.request(method, path, options);
    const text = await response.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AppMeshError(`${method} ${path}: the answer is not JSON`, { status: response.status, kind: 'server' });
    }
  }

  /** A `{"message"}` answer's text. */
  async message(method: string, path: string, options?: RequestOptions): Promise<string> {
    const answer = await this.json<{ message?: string } | undefined>(method, path, options);
    return answer?.message ?? '';
  }

  /** Renews the token when less than the configured share of its lifetime is left. */
  async renewIfDue(now = Date.now() / 1000): Promise<void> {
    const share = this.options.renewAtRemainingShare ?? 0.1;
    const token = this.currentToken;
    if (!token || share <= 0) return;
    const { issuedAt, expiresAt } = tokenTimes(token);
    if (issuedAt === undefined || expiresAt === undefined || expiresAt <= now) return;
    if (expiresAt - now > (expiresAt - issuedAt) * share) return;
    this.renewing ??= this.renew(expiresAt - issuedAt)
      .then(() => undefined)
      // A failed renewal leaves the current token, still valid for a while.
      .catch(() => undefined)
      .finally(() => (this.renewing = undefined));
    await this.renewing;
  }

  /** `POST /appmesh/token/renew`: a new token, the old one revoked. */
  async renew(expireSeconds?: number): Promise<TokenResponse> {
    const answer = await this.json<TokenResponse>('POST', '/appmesh/token/renew', {
      auth: false,
      forward: false,
      headers: { Authorization: this.currentToken ? `Bearer ${this.currentToken}` : undefined, 'X-Expire-Seconds': expireSeconds?.toString() },
    });
    return this.adopt(answer);
  }
}

function isPlainData(body: unknown): boolean {
  if (Array.isArray(body)) return true;
  if (typeof body !== 'object' || body === null) return false;
  const prototype = Object.getPrototypeOf(body) as unknown;
  return prototype === Object.prototype || prototype === null;
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text().catch(() => '');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
