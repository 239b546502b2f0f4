import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../../service/core.js';
import type { TokenResponse } from '../../service/auth-service.js';
import { authCookie, tokenFromRequest } from '../auth-carrier.js';

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

const wantsCookie = (request: FastifyRequest) => /^(true|1)$/i.test(header(request, 'x-set-cookie')?.trim() ?? '');

/** Token answers are never cached, and carry the session cookie when the client asked for it. */
function sendToken(reply: FastifyReply, token: TokenResponse, setCookie: boolean, secure: boolean): TokenResponse {
  reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
  if (setCookie) reply.header('Set-Cookie', authCookie(token.access_token, { secure, maxAge: token.expires_in }));
  return token;
}

export function registerIdentityRoutes(app: FastifyInstance, core: Core, options: { secure: boolean }): void {
  app.post('/appmesh/login', async (request, reply) => {
    const token = await core.auth.login({
      authorization: header(request, 'authorization'),
      expireSeconds: header(request, 'x-expire-seconds'),
      audience: header(request, 'x-audience'),
    });
    return sendToken(reply, token, wantsCookie(request), options.secure);
  });

  app.post('/appmesh/auth', async (request, reply) => {
    const token = await core.auth.verifyToken(
      tokenFromRequest(request, core.config().REST.CsrfAllowedOrigins),
      header(request, 'x-audience'),
      header(request, 'x-permission'),
    );
    return sendToken(reply, token, wantsCookie(request), options.secure);
  });
}
