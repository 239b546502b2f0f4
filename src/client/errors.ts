/** What went wrong, in terms a caller can act on. */
export type AppMeshErrorKind =
  | 'unreachable'
  | 'unauthorized'
  | 'expired'
  | 'forbidden'
  | 'not-found'
  | 'bad-request'
  | 'conflict'
  | 'totp-required'
  | 'rate-limited'
  | 'server';

/** The TOTP challenge a 428 at login carries: answered with a code through `totp/validate`. */
export interface TotpChallenge {
  status?: string;
  totp_challenge: string;
  digits?: number;
  period?: number;
  expires?: number;
}

export interface AppMeshErrorDetails {
  status: number;
  kind: AppMeshErrorKind;
  /** The permission the caller lacks (kind `forbidden`), when the daemon names it. */
  permission?: string;
  /** The URL that could not be reached (kind `unreachable`). */
  url?: string;
  /** Seconds to wait (kind `rate-limited`), from `Retry-After`. */
  retryAfterSeconds?: number;
  /** The login challenge (kind `totp-required`). */
  challenge?: TotpChallenge;
  cause?: unknown;
}

/** The one error every client call throws: an HTTP status (0 when nothing answered) and a kind. */
export class AppMeshError extends Error {
  readonly status: number;
  readonly kind: AppMeshErrorKind;
  readonly permission?: string;
  readonly url?: string;
  readonly retryAfterSeconds?: number;
  readonly challenge?: TotpChallenge;

  constructor(message: string, details: AppMeshErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'AppMeshError';
    this.status = details.status;
    this.kind = details.kind;
    this.permission = details.permission;
    this.url = details.url;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.challenge = details.challenge;
  }
}

// The daemon answers RBAC denials with 400 (as App Mesh does); their text names the permission.
const LACKS_PERMISSION = /lacks required permission '([^']+)'/;
const ACL_DENIAL = /is not allowed to (VIEW|EDIT) app/;

/** Maps a daemon's answer that is not a success to the error a caller acts on. */
export function errorFromAnswer(status: number, body: unknown, headers: Headers): AppMeshError {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const text = typeof record.message === 'string' ? record.message : typeof body === 'string' && body ? body.slice(0, 500) : `HTTP ${status}`;
  const permission = LACKS_PERMISSION.exec(text)?.[1];
  if (status === 428 && typeof record.totp_challenge === 'string') {
    return new AppMeshError(text, { status, kind: 'totp-required', challenge: record as unknown as TotpChallenge });
  }
  if (status === 429) {
    const retry = Number(headers.get('retry-after'));
    return new AppMeshError(text, { status, kind: 'rate-limited', retryAfterSeconds: Number.isFinite(retry) ? retry : undefined });
  }
  // The daemon answers an upload onto an existing file with 403, as App Mesh does: not a permission matter.
  if (status === 409 || (status === 403 && /already exist/i.test(text))) return new AppMeshError(text, { status, kind: 'conflict' });
  if (status === 401) return new AppMeshError(text, { status, kind: /expired/i.test(text) ? 'expired' : 'unauthorized' });
  if (status === 403 || permission || (status === 400 && ACL_DENIAL.test(text))) return new AppMeshError(text, { status, kind: 'forbidden', permission });
  if (status === 404 || status === 406) return new AppMeshError(text, { status, kind: 'not-found' });
  if (status >= 500) return new AppMeshError(text, { status, kind: 'server' });
  return new AppMeshError(text, { status, kind: 'bad-request' });
}

/** A request that never got an answer: refused, unknown host, TLS failure, timeout. */
export function unreachable(url: string, cause: unknown): AppMeshError {
  const reason = describeNetworkFailure(cause);
  return new AppMeshError(`cannot reach ${url}: ${reason}`, { status: 0, kind: 'unreachable', url, cause });
}

function describeNetworkFailure(cause: unknown): string {
  const error = cause as { name?: string; message?: string; cause?: { code?: string; message?: string } } | undefined;
  if (error?.name === 'TimeoutError') return 'no answer in time';
  if (error?.name === 'AbortError') return 'aborted';
  const inner = error?.cause;
  if (inner?.code) return `${inner.code}${inner.message && !inner.message.includes(inner.code) ? ` (${inner.message})` : ''}`;
  return inner?.message ?? error?.message ?? String(cause);
}
