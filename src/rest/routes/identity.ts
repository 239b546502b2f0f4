import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../../service/core.js';
import type { TokenResponse } from '../../service/auth-service.js';
import { authCookie, clearedAuthCookie, hasAuthCookie, tokenFromRequest } from '../auth-carrier.js';

export const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const isTrue = (value: string | undefined) => /^(true|1)$/i.test(value?.trim() ?? '');

/** Token answers are never cached, and carry the session cookie when the client asked for it. */
function sendToken(reply: FastifyReply, token: TokenResponse, setCookie: boolean, secure: boolean): TokenResponse {
  reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
  if (setCookie) reply.header('Set-Cookie', authCookie(token.access_token, { secure, maxAge: token.expires_in }));
  return token;
}

export function registerIdentityRoutes(app: FastifyInstance, core: Core, options: { secure: boolean }): void {
  const token = (request: FastifyRequest) => tokenFromRequest(request, core.config().REST.CsrfAllowedOrigins);

  app.post('/appmesh/login', async (request, reply) => {
    const response = await core.auth.login({
      authorization: header(request, 'authorization'),
      expireSeconds: header(request, 'x-expire-seconds'),
      audience: header(request, 'x-audience'),
      totpCode: header(request, 'x-totp-code'),
      refreshTokenRequest: isTrue(header(request, 'x-refresh-token-request')),
      client: request.ip,
    });
    return sendToken(reply, response, isTrue(header(request, 'x-set-cookie')), options.secure);
  });

  app.post('/appmesh/auth', async (request, reply) => {
    const response = await core.auth.verifyToken(token(request), header(request, 'x-audience'), header(request, 'x-permission'));
    return sendToken(reply, response, isTrue(header(request, 'x-set-cookie')), options.secure);
  });

  app.post('/appmesh/token/renew', async (request, reply) => {
    const refreshToken = header(request, 'x-refresh-token')?.trim() || undefined;
    const response = await core.auth.renew({
      // In the refresh flow the access token is only read for its audience, and may be expired.
      accessToken: refreshToken ? header(request, 'authorization')?.replace(/^Bearer\s+/i, '').trim() : token(request),
      refreshToken,
      expireSeconds: header(request, 'x-expire-seconds'),
      refreshTokenRequest: isTrue(header(request, 'x-refresh-token-request')),
      client: request.ip,
    });
    return sendToken(reply, response, hasAuthCookie(request), options.secure);
  });

  app.post('/appmesh/self/logoff', async (request, reply) => {
    // `X-Logoff-All: true`: every session of the caller ends, not only the one presented.
    if (isTrue(header(request, 'x-logoff-all'))) await core.users.endSessions(await request.principal());
    else await core.auth.logoff(token(request), header(request, 'x-refresh-token')?.trim() || undefined, request.ip);
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    if (hasAuthCookie(request)) reply.header('Set-Cookie', clearedAuthCookie(options.secure));
    return reply.send('');
  });

  app.post('/appmesh/totp/secret', async (request) =>
    core.auth.totpSecret(await request.principal(), { totpCode: header(request, 'x-totp-code'), body: request.body }));

  app.post('/appmesh/totp/setup', async (request, reply) => {
    const response = await core.auth.totpSetup(await request.principal(), header(request, 'x-totp-code'));
    return sendToken(reply, response, hasAuthCookie(request), options.secure);
  });

  app.post('/appmesh/totp/validate', async (request, reply) => {
    const response = await core.auth.totpValidate({ body: request.body, client: request.ip });
    return sendToken(reply, response, isTrue(header(request, 'x-set-cookie')), options.secure);
  });

  app.post<{ Params: { user: string } }>('/appmesh/totp/:user/disable', async (request) => ({
    message: await core.auth.totpDisable(await request.principal(), request.params.user.trim()),
  }));
}
