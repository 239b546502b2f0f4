import { parse as parseQuery } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../../src/service/core.js';
import type { TokenResponse } from '../../src/service/auth-service.js';
import { ServiceError } from '../../src/service/errors.js';
import { PROTECTED_RESOURCE_PATH } from '../mcp-http.js';
import { publicBaseUrl } from './base-url.js';
import { loginPage } from './login-page.js';
import { OAuthState } from './oauth-state.js';

const SCOPE = 'appmesh';
const accessTtl = () => Number(process.env.APPMESH_MCP_ACCESS_TTL) || 3600;

type Form = Record<string, string | undefined>;

/**
 * OAuth 2.1 authorization server bridged onto App Mesh accounts, so an MCP client can log a
 * person in with a browser: metadata, dynamic registration, /authorize with PKCE (S256), a login
 * page (password, then TOTP), /token (code and refresh grants) and /revoke. The access token is
 * an App Mesh JWT and the refresh token an App Mesh refresh token: single use, rotating, revocable.
 */
export function registerOAuthRoutes(app: FastifyInstance, core: Core): void {
  const state = new OAuthState();

  void app.register(async (scope) => {
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

    scope.post('/register', async (request, reply) => {
      const body = (request.body ?? {}) as { redirect_uris?: unknown; client_name?: unknown };
      const uris = Array.isArray(body.redirect_uris) ? body.redirect_uris.filter((uri): uri is string => typeof uri === 'string') : [];
      if (uris.length === 0 || uris.length > 10 || !uris.every(allowedRedirect)) {
        return oauthError(reply, 400, 'invalid_redirect_uri', 'redirect_uris must be https URLs or http URLs on localhost');
      }
      const client = state.register(uris, typeof body.client_name === 'string' ? body.client_name.slice(0, 200) : undefined);
      reply.code(201);
      return { ...client, token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: SCOPE };
    });

    scope.get<{ Querystring: Form }>('/authorize', async (request, reply) => {
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
      if (!query.code_challenge || query.code_challenge_method !== 'S256') return fail('invalid_request', 'PKCE with S256 is required');
      const txnId = state.park({ clientId: client.client_id, redirectUri: query.redirect_uri, state: query.state, codeChallenge: query.code_challenge });
      return reply.redirect(`/login?txn_id=${encodeURIComponent(txnId)}`);
    });

    scope.get<{ Querystring: Form }>('/login', async (request, reply) => {
      const txnId = request.query.txn_id ?? '';
      if (!state.transaction(txnId)) return reply.code(400).type('text/plain').send('This sign-in link has expired; start again from your application.');
      return html(reply, loginPage({ txnId }));
    });

    scope.post('/login', async (request, reply) => {
      const form = (request.body ?? {}) as Form;
      const txnId = form.txn_id ?? '';
      if (!state.transaction(txnId)) return reply.code(400).type('text/plain').send('This sign-in link has expired; start again from your application.');
      const username = form.username ?? '';
      let tokens: TokenResponse;
      try {
        tokens = form.totp_challenge
          ? await core.auth.totpValidate({ body: { user_name: username, totp_challenge: form.totp_challenge, totp_code: form.totp_code ?? '', expire_seconds: accessTtl() }, client: request.ip })
          : await core.auth.login({
            authorization: `Basic ${Buffer.from(`${username}:${form.password ?? ''}`).toString('base64')}`,
            expireSeconds: String(accessTtl()),
            totpCode: form.totp_code || undefined,
            refreshTokenRequest: true,
            client: request.ip,
          });
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
        const challenge = error.status === 428 ? String(error.body?.totp_challenge ?? '') : undefined;
        if (challenge) return html(reply, loginPage({ txnId, username, challenge }));
        const message = error.status === 429 ? error.message : form.totp_challenge ? 'The code is not valid. Try again.' : 'Wrong user name or password.';
        return html(reply.code(error.status === 429 ? 429 : 401), loginPage({ txnId, username, error: message, challenge: form.totp_challenge }));
      }
      const issued = state.issueCode(txnId, tokens);
      if (!issued) return reply.code(400).type('text/plain').send('This sign-in link has expired; start again from your application.');
      const redirect = new URL(issued.pending.redirectUri);
      redirect.searchParams.set('code', issued.code);
      if (issued.pending.state) redirect.searchParams.set('state', issued.pending.state);
      return reply.redirect(redirect.href);
    });

    scope.post('/token', async (request, reply) => {
      const form = (request.body ?? {}) as Form;
      reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
      if (form.grant_type === 'authorization_code') {
        const tokens = state.redeem(form.code ?? '', form.client_id ?? '', form.redirect_uri, form.code_verifier ?? '');
        if (!tokens) return oauthError(reply, 400, 'invalid_grant', 'The code is invalid, expired, used, or the PKCE verifier does not match');
        return oauthTokens(tokens);
      }
      if (form.grant_type === 'refresh_token') {
        try {
          return oauthTokens(await core.auth.renew({ refreshToken: form.refresh_token, expireSeconds: String(accessTtl()), client: request.ip }));
        } catch (error) {
          if (error instanceof ServiceError && error.status < 500) return oauthError(reply, 400, 'invalid_grant', error.message);
          throw error;
        }
      }
      return oauthError(reply, 400, 'unsupported_grant_type', 'grant_type must be authorization_code or refresh_token');
    });

    // RFC 7009: the answer is 200 whether or not the token was valid.
    scope.post('/revoke', async (request) => {
      const form = (request.body ?? {}) as Form;
      const token = form.token ?? '';
      const asRefresh = form.token_type_hint === 'refresh_token' || looksLikeRefresh(token);
      await core.auth.logoff(asRefresh ? undefined : token, asRefresh ? token : undefined, request.ip).catch(() => undefined);
      return {};
    });
  });
}

function oauthTokens(tokens: TokenResponse): Record<string, unknown> {
  return { access_token: tokens.access_token, token_type: 'Bearer', expires_in: tokens.expires_in, refresh_token: tokens.refresh_token, scope: SCOPE };
}

function oauthError(reply: FastifyReply, status: number, error: string, description: string): FastifyReply {
  return reply.code(status).type('application/json').send({ error, error_description: description });
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
