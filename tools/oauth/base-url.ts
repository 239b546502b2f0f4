import type { FastifyRequest } from 'fastify';

/** The daemon's public base URL: `APPMESH_MCP_PUBLIC_URL`, else what the client called. */
export function publicBaseUrl(request: FastifyRequest): string {
  const configured = process.env.APPMESH_MCP_PUBLIC_URL?.trim();
  if (configured) return configured.replace(/\/+$/, '');
  return `${request.protocol}://${request.headers.host ?? `${request.hostname}`}`;
}
