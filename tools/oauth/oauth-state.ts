import { createHash, randomBytes } from 'node:crypto';
import { secretsEqual } from '../../src/auth/password.js';
import type { TokenResponse } from '../../src/service/auth-service.js';

export interface OAuthClient {
  client_id: string;
  client_name?: string;
  redirect_uris: string[];
  client_id_issued_at: number;
}

/** An /authorize request waiting for the person to log in. */
export interface PendingAuthorization {
  clientId: string;
  redirectUri: string;
  state?: string;
  codeChallenge: string;
  expiresAtMs: number;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  tokens: TokenResponse;
  expiresAtMs: number;
}

interface StoredClient {
  client: OAuthClient;
  /** Once a person has signed in through it, a client is kept as long as it is used. */
  used: boolean;
  lastUsedMs: number;
}

export interface OAuthStateLimits {
  maxClients?: () => number;
  maxTransactions?: number;
  maxCodes?: number;
  now?: () => number;
}

const TRANSACTION_MS = 10 * 60 * 1000;
const CODE_MS = 5 * 60 * 1000;
/** A registration nobody signs in through is gone after this (registration floods evaporate). */
const UNUSED_CLIENT_MS = 10 * 60 * 1000;
/** A client in use lives on while it is used at least this often (its refreshes count). */
const USED_CLIENT_MS = 30 * 24 * 3600 * 1000;
const MAX_TRANSACTIONS = 10_000;
const MAX_CODES = 10_000;

const randomId = () => randomBytes(24).toString('base64url');

/**
 * The bridge's memory: registered clients, login transactions and authorization codes, each
 * bounded. When full, new entries are refused (the caller answers 503); nothing live is evicted
 * to make room, only entries past their time go. Nothing here is durable: after a restart
 * clients register and log in again.
 */
export class OAuthState {
  private readonly clients = new Map<string, StoredClient>();
  private readonly transactions = new Map<string, PendingAuthorization>();
  private readonly codes = new Map<string, IssuedCode>();
  private readonly maxClients: () => number;
  private readonly maxTransactions: number;
  private readonly maxCodes: number;
  private readonly now: () => number;

  constructor(limits: OAuthStateLimits = {}) {
    this.maxClients = limits.maxClients ?? (() => 1000);
    this.maxTransactions = limits.maxTransactions ?? MAX_TRANSACTIONS;
    this.maxCodes = limits.maxCodes ?? MAX_CODES;
    this.now = limits.now ?? Date.now;
  }

  /** A new client, or undefined when the registry is full. */
  register(redirectUris: string[], clientName?: string): OAuthClient | undefined {
    if (this.clients.size >= this.maxClients()) this.dropExpiredClients();
    if (this.clients.size >= this.maxClients()) return undefined;
    const now = this.now();
    const client: OAuthClient = { client_id: randomId(), client_name: clientName, redirect_uris: redirectUris, client_id_issued_at: Math.floor(now / 1000) };
    this.clients.set(client.client_id, { client, used: false, lastUsedMs: now });
    return client;
  }

  client(id: string): OAuthClient | undefined {
    const stored = this.clients.get(id);
    if (stored && this.expired(stored)) {
      this.clients.delete(id);
      return undefined;
    }
    return stored?.client;
  }

  /** A step of a sign-in (authorize) keeps a new client alive; a completed one marks it in use. */
  touch(id: string, completed = false): void {
    const stored = this.clients.get(id);
    if (!stored) return;
    stored.lastUsedMs = this.now();
    if (completed) stored.used = true;
  }

  markUsed(id: string): void {
    this.touch(id, true);
  }

  /** Parks an authorization; undefined when too many are pending. */
  park(pending: Omit<PendingAuthorization, 'expiresAtMs'>): string | undefined {
    if (!room(this.transactions, this.maxTransactions, this.now())) return undefined;
    const id = randomId();
    this.transactions.set(id, { ...pending, expiresAtMs: this.now() + TRANSACTION_MS });
    return id;
  }

  transaction(id: string): PendingAuthorization | undefined {
    const pending = this.transactions.get(id);
    if (pending && pending.expiresAtMs < this.now()) this.transactions.delete(id);
    return pending && pending.expiresAtMs >= this.now() ? pending : undefined;
  }

  /** Ends the login: the transaction becomes a single-use code. */
  issueCode(transactionId: string, tokens: TokenResponse): { code: string; pending: PendingAuthorization } | undefined {
    const pending = this.transaction(transactionId);
    if (!pending || !room(this.codes, this.maxCodes, this.now())) return undefined;
    this.transactions.delete(transactionId);
    const code = randomId();
    this.codes.set(code, { clientId: pending.clientId, redirectUri: pending.redirectUri, codeChallenge: pending.codeChallenge, tokens, expiresAtMs: this.now() + CODE_MS });
    return { code, pending };
  }

  /** Redeems a code once, checking client, redirect URI and the PKCE verifier (S256). */
  redeem(code: string, clientId: string, redirectUri: string | undefined, verifier: string): TokenResponse | undefined {
    const issued = this.codes.get(code);
    this.codes.delete(code);
    if (!issued || issued.expiresAtMs < this.now() || issued.clientId !== clientId) return undefined;
    if (redirectUri !== undefined && redirectUri !== issued.redirectUri) return undefined;
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    if (!secretsEqual(challenge, issued.codeChallenge)) return undefined;
    this.markUsed(clientId);
    return issued.tokens;
  }

  private expired(stored: StoredClient): boolean {
    return stored.lastUsedMs + (stored.used ? USED_CLIENT_MS : UNUSED_CLIENT_MS) < this.now();
  }

  private dropExpiredClients(): void {
    for (const [id, stored] of this.clients) if (this.expired(stored)) this.clients.delete(id);
  }
}

/** Whether one more entry fits once those past their time are dropped. */
function room(map: Map<string, { expiresAtMs: number }>, max: number, now: number): boolean {
  if (map.size < max) return true;
  for (const [key, entry] of map) if (entry.expiresAtMs < now) map.delete(key);
  return map.size < max;
}
