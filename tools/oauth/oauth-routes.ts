import { parse as parseQuery } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../../src/service/core.js';
import type { TokenResponse } from '../../src/service/auth-service.js';
import { MCP_AUDIENCE } from '../../src/auth/token-service.js';
import { ServiceError } from '../../src/service/errors.js';
import { PROTECTED_RESOURCE_PATH } from '../mcp-http.js';
import { checkHost, checkOrigin } from '../allowed-hosts.js';
import { publicBaseUrl } from './base-url.js';
import { loginPage } from './login-page.js';
import { OAuthState, type OAuthClient, type PendingAuthorization } from './oauth-state.js';
import { RefreshSeal } from './refresh-seal.js';
import { AddressRate } from './address-rate.js';

const SCOPE = 'appmesh';
const accessTtl = () => Number(process.env.APPMESH_MCP_ACCESS_TTL) || 3600;

type Form = Record<string, string | undefined>;

const MAX_REDIRECT_URIS = 5;
const MAX_REDIRECT_URI_LENGTH = 2048;
const MAX_CLIENT_NAME_LENGTH = 256;
const MAX_STATE_LENGTH = 1024;
/** RFC 7636: a S256 challenge is 43 base64url characters. */
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;
/** Registration and the forms are small; nothing here needs the API's general body limit. */
const SMALL_BODY = 64 * 1024;
/** Pages a browser opens directly: no cross-origin reads of them. */
const NO_CORS = { cors: false };
const EXPIRED_LINK = 'This sign-in link has expired; start again from your application.';

/**
 * OAuth 2.1 authorization server bridged onto App Mesh accounts, so an MCP client can log a
 * person in with a browser: metadata, dynamic registration, /authorize with PKCE (S256), a login
 * page (password, then TOTP) that names the client and where the authorization goes, /token
 * (code and refresh grants) and /revoke. The access token is an App Mesh JWT of the MCP audience
 * (/mcp accepts it, the REST API does not); the refresh token is an App Mesh refresh token, sealed
 * so that only this bridge redeems it: single use, rotating, revocable.
 */
export function registerOAuthRoutes(app: FastifyInstance, core: Core): void {
  const state = new OAuthState({ maxClients: () => core.config().MCP.MaxOAuthClients });
  const seal = new RefreshSeal(() => core.config().REST.JWT.JWTSalt);
  const registrations = new AddressRate(20, 60 * 60 * 1000);
  // Each authorization parks a sign-in for 10 minutes: one address must not fill them all.
  const authorizations = new AddressRate(100, 15 * 60 * 1000);

  void app.register(async (scope) => {
    // Every endpoint of the bridge answers only to this daemon's own names (DNS rebinding).
    scope.addHook('onRequest', async (request) => checkHost(request, core));
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, flatten(parseQuery(String(body))));
    });

    const protectedResource = async (request: FastifyRequest) => ({
      resource: `${publicBaseUrl(request)}/mcp`,
      authorization_servers: [publicBaseUrl(request)],
      scopes_supported: [SCOPE],
      bearer_methods_supported: ['header'],
      resource_name: 'App Mesh TS',
    });
    scope.get(PROTECTED_RESOURCE_PATH, protectedResource);
    scope.get(`${PROTECTED_RESOURCE_PATH}/mcp`, protectedResource);

    scope.get('/.well-known/oauth-authorization-server', async (request) => {
      const base = publicBaseUrl(request);
      return {
        issuer: base,
        authorization_endpoint: `${base}/authorize`,
        token_endpoint: `${base}/token`,
        registration_endpoint: `${base}/register`,
        revocation_endpoint: `${base}/revoke`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
        revocation_endpoint_auth_methods_supported: ['none'],
        scopes_supported: [SCOPE],
      };
    });

    scope.post('/register', { bodyLimit: SMALL_BODY }, async (request, reply) => {
      const body = (request.body ?? {}) as { redirect_uris?: unknown; client_name?: unknown };
      const uris = Array.isArray(body.redirect_uris) ? body.redirect_uris : [];
      if (uris.length === 0 || uris.length > MAX_REDIRECT_URIS || !uris.every((uri) => typeof uri === 'string' && uri.length <= MAX_REDIRECT_URI_LENGTH && allowedRedirect(uri))) {
        return oauthError(reply, 400, 'invalid_redirect_uri', `redirect_uris must be 1 to ${MAX_REDIRECT_URIS} https URLs or http URLs on localhost, each at most ${MAX_REDIRECT_URI_LENGTH} characters`);
      }
      const name = body.client_name;
      if (name !== undefined && name !== null && (typeof name !== 'string' || name.length > MAX_CLIENT_NAME_LENGTH)) {
        return oauthError(reply, 400, 'invalid_client_metadata', `client_name must be a string of at most ${MAX_CLIENT_NAME_LENGTH} characters`);
      }
      const wait = registrations.take(request.ip);
      if (wait > 0) {
        reply.header('Retry-After', String(wait));
        return oauthError(reply, 429, 'too_many_requests', `Too many client registrations from this address, retry in ${wait} s`);
      }
      const client = state.register(uris as string[], typeof name === 'string' ? name : undefined);
      if (!client) {
        reply.header('Retry-After', '600');
        return oauthError(reply, 503, 'temporarily_unavailable', 'Too many registered clients (MCP.MaxOAuthClients); unused registrations expire within 10 minutes');
      }
      reply.code(201);
      return { ...client, token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: SCOPE };
    });

    scope.get<{ Querystring: Form }>('/authorize', { config: NO_CORS }, async (request, reply) => {
      const query = request.query;
      const client = state.client(query.client_id ?? '');
      if (!client || !query.redirect_uri || !client.redirect_uris.includes(query.redirect_uri)) {
        return reply.code(400).type('text/plain').send('Unknown client or redirect_uri');
      }
      const redirect = new URL(query.redirect_uri);
      const fail = (error: string, description: string) => {
        redirect.searchParams.set('error', error);
        redirect.searchParams.set('error_description', description);
        if (query.state) redirect.searchParams.set('state', query.state);
        return reply.redirect(redirect.href);
      };
      if (query.response_type !== 'code') return fail('unsupported_response_type', 'response_type must be code');
      if (!query.code_challenge || !CODE_CHALLENGE.test(query.code_challenge) || query.code_challenge_method !== 'S256') return fail('invalid_request', 'PKCE with S256 is required');
      if (query.state && query.state.length > MAX_STATE_LENGTH) return fail('invalid_request', `state must be at most ${MAX_STATE_LENGTH} characters`);
      const wait = authorizations.take(request.ip);
      if (wait > 0) return reply.code(429).header('Retry-After', String(wait)).type('text/plain').send(`Too many sign-ins from this address; retry in ${wait} s.`);
      state.touch(client.client_id);
      const txnId = state.park({ clientId: client.client_id, redirectUri: query.redirect_uri, state: query.state, codeChallenge: query.code_challenge });
      if (!txnId) return fail('temporarily_unavailable', 'Too many sign-ins in progress, retry in a minute');
      return reply.redirect(`/login?txn_id=${encodeURIComponent(txnId)}`);
    });

    scope.get<{ Querystring: Form }>('/login', { config: NO_CORS }, async (request, reply) => {
      const txnId = request.query.txn_id ?? '';
      const pending = state.transaction(txnId);
      if (!pending) return reply.code(400).type('text/plain').send(EXPIRED_LINK);
      return html(reply, loginPage({ txnId, ...consent(pending, state.client(pending.clientId)) }));
    });

    scope.post('/login', { config: NO_CORS, bodyLimit: SMALL_BODY }, async (request, reply) => {
      // The form posts from this origin only: another site cannot sign a person in (login CSRF).
      checkOrigin(request, core);
      const form = (request.body ?? {}) as Form;
      const txnId = form.txn_id ?? '';
      const pending = state.transaction(txnId);
      if (!pending) return reply.code(400).type('text/plain').send(EXPIRED_LINK);
      const shown = consent(pending, state.client(pending.clientId));
      const username = form.username ?? '';
      let tokens: TokenResponse;
      try {
        tokens = form.totp_challenge
          ? await core.auth.totpValidate({ body: { user_name: username, totp_challenge: form.totp_challenge, totp_code: form.totp_code ?? '', expire_seconds: accessTtl() }, client: request.ip })
          : await core.auth.login({
            authorization: `Basic ${Buffer.from(`${username}:${form.password ?? ''}`).toString('base64')}`,
            expireSeconds: String(accessTtl()),
            audience: MCP_AUDIENCE,
            totpCode: form.totp_code || undefined,
            refreshTokenRequest: true,
            client: request.ip,
          });
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
        const challenge = error.status === 428 ? String(error.body?.totp_challenge ?? '') : undefined;
        if (challenge) return html(reply, loginPage({ txnId, username, challenge, ...shown }));
        const message = error.status === 429 ? error.message : form.totp_challenge ? 'The code is not valid. Try again.' : 'Wrong user name or password.';
        return html(reply.code(error.status === 429 ? 429 : 401), loginPage({ txnId, username, error: message, challenge: form.totp_challenge, ...shown }));
      }
      const issued = state.issueCode(txnId, tokens);
      if (!issued) return reply.code(503).type('text/plain').send('Too many sign-ins in progress; start again from your application in a minute.');
      const redirect = new URL(issued.pending.redirectUri);
      redirect.searchParams.set('code', issued.code);
      if (issued.pending.state) redirect.searchParams.set('state', issued.pending.state);
      return reply.redirect(redirect.href);
    });

    scope.post('/token', { bodyLimit: SMALL_BODY }, async (request, reply) => {
      const form = (request.body ?? {}) as Form;
      reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
      if (form.grant_type === 'authorization_code') {
        const tokens = state.redeem(form.code ?? '', form.client_id ?? '', form.redirect_uri, form.code_verifier ?? '');
        if (!tokens) return oauthError(reply, 400, 'invalid_grant', 'The code is invalid, expired, used, or the PKCE verifier does not match');
        return oauthTokens(tokens, seal);
      }
      if (form.grant_type === 'refresh_token') {
        const refreshToken = seal.open(form.refresh_token ?? '');
        if (!refreshToken) return oauthError(reply, 400, 'invalid_grant', 'The refresh token was not issued by this server');
        if (form.client_id) state.markUsed(form.client_id);
        try {
          return oauthTokens(await core.auth.renew({ refreshToken, audience: MCP_AUDIENCE, expireSeconds: String(accessTtl()), client: request.ip }), seal);
        } catch (error) {
          if (error instanceof ServiceError && error.status < 500) return oauthError(reply, 400, 'invalid_grant', error.message);
          throw error;
        }
      }
      return oauthError(reply, 400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
    });

    // RFC 7009: the answer is 200 whether or not the token was valid.
    scope.post('/revoke', { bodyLimit: SMALL_BODY }, async (request) => {
      const form = (request.body ?? {}) as Form;
      const presented = form.token ?? '';
      const sealed = seal.open(presented);
      const token = sealed ?? presented;
      const asRefresh = sealed !== undefined || form.token_type_hint === 'refresh_token' || looksLikeRefresh(token);
      await core.auth.logoff(asRefresh ? undefined : token, asRefresh ? token : undefined, request.ip).catch(() => undefined);
      return {};
    });
  });
}

function oauthTokens(tokens: TokenResponse, seal: RefreshSeal): Record<string, unknown> {
  const refresh = tokens.refresh_token ? seal.seal(tokens.refresh_token) : undefined;
  return { access_token: tokens.access_token, token_type: 'Bearer', expires_in: tokens.expires_in, refresh_token: refresh, scope: SCOPE };
}

function oauthError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  // OAuth's error fields, and the `message` every other App Mesh error carries.
  return reply.code(status).type('application/json').send({ error, error_description: description, message: description });
}

/** What the person is shown before signing in: who asks, and where the authorization goes. */
function consent(pending: PendingAuthorization, client: OAuthClient | undefined): { clientName?: string; redirectHost: string } {
  return { clientName: client?.client_name, redirectHost: new URL(pending.redirectUri).host };
}

function html(reply: FastifyReply, page: string): FastifyReply {
  // The page must not be framed by another site (clickjacking of the password form).
  return reply.type('text/html; charset=utf-8').header('X-Frame-Options', 'DENY').header('Content-Security-Policy', "frame-ancestors 'none'").header('Cache-Control', 'no-store').send(page);
}

function allowedRedirect(uri: string): boolean {
  try {
    const url = new URL(uri);
    if (url.hash) return false;
    if (url.protocol === 'https:') return true;
    return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  } catch {
    return false;
  }
}

function looksLikeRefresh(token: string): boolean {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { aud?: unknown };
    return payload.aud === 'appmesh-refresh';
  } catch {
    return false;
  }
}

function flatten(query: NodeJS.Dict<string | string[]>): Form {
  return Object.fromEntries(Object.entries(query).map(([key, value]) => [key, Array.isArray(value) ? value[0] : value]));
}
