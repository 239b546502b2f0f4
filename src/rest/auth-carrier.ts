import type { FastifyRequest } from 'fastify';
import { forbidden } from '../service/errors.js';

export const AUTH_COOKIE = 'appmesh_auth_token';

/**
 * The token a request carries: `Authorization: Bearer <jwt>` (or the bare token the TCP/WSS
 * SDKs send), else the `appmesh_auth_token` cookie. Cookie requests pass the CSRF check first.
 */
export function tokenFromRequest(request: FastifyRequest, allowedOrigins: readonly string[]): string | undefined {
  const header = request.headers.authorization?.trim();
  if (header) return header.replace(/^Bearer\s+/i, '').trim() || undefined;
  const cookie = cookieValue(request.headers.cookie, AUTH_COOKIE);
  if (cookie !== undefined) checkCsrf(request, allowedOrigins);
  return cookie || undefined;
}

/**
 * Reads one cookie by exact name. Tolerates the attribute fragments (`Path=/; HttpOnly; ...`)
 * that the Node SDK echoes back from `Set-Cookie` into its `Cookie` header.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const trimmed = part.trim();
    const equals = trimmed.indexOf('=');
    if (equals > 0 && trimmed.slice(0, equals).trim() === name) return trimmed.slice(equals + 1).trim();
  }
  return undefined;
}

export function hasAuthCookie(request: FastifyRequest): boolean {
  return cookieValue(request.headers.cookie, AUTH_COOKIE) !== undefined;
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);

/** A cookie session must not be driven by another site's page (cross-site request forgery). */
export function checkCsrf(request: FastifyRequest, allowedOrigins: readonly string[]): void {
  const origin = request.headers.origin;
  if (!origin || !UNSAFE_METHODS.has(request.method) || !request.headers.cookie) return;
  if (allowedOrigins.includes(origin)) return;
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    throw forbidden('CSRF validation failed: origin not allowed');
  }
  const requestHost = request.headers.host;
  if (!requestHost || originHost.toLowerCase() !== requestHost.toLowerCase()) throw forbidden('CSRF validation failed: origin not allowed');
}

export interface CookieOptions {
  secure: boolean;
  maxAge?: number;
}

export function authCookie(token: string, options: CookieOptions): string {
  const attributes = [`${AUTH_COOKIE}=${token}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (options.secure) attributes.push('Secure');
  if (options.maxAge !== undefined) attributes.push(`Max-Age=${options.maxAge}`);
  return attributes.join('; ');
}

export function clearedAuthCookie(secure: boolean): string {
  return authCookie('', { secure, maxAge: 0 });
}
