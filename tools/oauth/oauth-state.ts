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

const TRANSACTION_MS = 10 * 60 * 1000;
const CODE_MS = 5 * 60 * 1000;
const MAX_ENTRIES = 10_000;

const randomId = () => randomBytes(24).toString('base64url');

/**
 * The bridge's memory: registered clients, login transactions and authorization codes. Nothing
 * here is durable — after a restart clients simply log in again.
 */
export class OAuthState {
  private readonly clients = new Map<string, OAuthClient>();
  private readonly transactions = new Map<string, PendingAuthorization>();
  private readonly codes = new Map<string, IssuedCode>();

  register(redirectUris: string[], clientName?: string): OAuthClient {
    this.bound(this.clients);
    const client: OAuthClient = { client_id: randomId(), client_name: clientName, redirect_uris: redirectUris, client_id_issued_at: Math.floor(Date.now() / 1000) };
    this.clients.set(client.client_id, client);
    return client;
  }

  client(id: string): OAuthClient | undefined {
    return this.clients.get(id);
  }

  park(pending: Omit<PendingAuthorization, 'expiresAtMs'>): string {
    this.bound(this.transactions);
    const id = randomId();
    this.transactions.set(id, { ...pending, expiresAtMs: Date.now() + TRANSACTION_MS });
    return id;
  }

  transaction(id: string): PendingAuthorization | undefined {
    const pending = this.transactions.get(id);
    if (pending && pending.expiresAtMs < Date.now()) this.transactions.delete(id);
    return pending && pending.expiresAtMs >= Date.now() ? pending : undefined;
  }

  /** Ends the login: the transaction becomes a single-use code. */
  issueCode(transactionId: string, tokens: TokenResponse): { code: string; pending: PendingAuthorization } | undefined {
    const pending = this.transaction(transactionId);
    if (!pending) return undefined;
    this.transactions.delete(transactionId);
    this.bound(this.codes);
    const code = randomId();
    this.codes.set(code, { clientId: pending.clientId, redirectUri: pending.redirectUri, codeChallenge: pending.codeChallenge, tokens, expiresAtMs: Date.now() + CODE_MS });
    return { code, pending };
  }

  /** Redeems a code once, checking client, redirect URI and the PKCE verifier (S256). */
  redeem(code: string, clientId: string, redirectUri: string | undefined, verifier: string): TokenResponse | undefined {
    const issued = this.codes.get(code);
    this.codes.delete(code);
    if (!issued || issued.expiresAtMs < Date.now() || issued.clientId !== clientId) return undefined;
    if (redirectUri !== undefined && redirectUri !== issued.redirectUri) return undefined;
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    return secretsEqual(challenge, issued.codeChallenge) ? issued.tokens : undefined;
  }

  private bound<T>(map: Map<string, T>): void {
    if (map.size < MAX_ENTRIES) return;
    // Oldest first: Map keeps insertion order.
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
