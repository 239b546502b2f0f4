import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../service/core.js';
import { badRequest, ServiceError } from '../service/errors.js';
import { tokenFromRequest } from './auth-carrier.js';

const TARGET_HEADER = 'x-target-host';
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;
// Hop-by-hop headers belong to one connection, not to the request being relayed.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', TARGET_HEADER]);

export interface ForwardingOptions {
  /** Relay over TLS (the cluster's daemons all speak what this one speaks). */
  tls: boolean;
  /** CA that signs the other daemons' certificates, if any. */
  ca?: Buffer;
}

/**
 * `X-Target-Host: host:port` relays the request, unchanged but for that header, to another
 * daemon of the cluster and relays its answer back. Only authenticated callers may use it (the
 * nodes share their JWT key): an anonymous client must not make this daemon connect anywhere.
 */
export async function forwardIfTargeted(request: FastifyRequest, reply: FastifyReply, core: Core, options: ForwardingOptions): Promise<boolean> {
  const raw = request.headers[TARGET_HEADER];
  if (raw === undefined) return false;
  const target = (Array.isArray(raw) ? raw[0] : raw).trim();
  const match = HOST_PORT.exec(target);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw badRequest(`Invalid ${TARGET_HEADER} '${target.slice(0, 100)}': expected host:port`);
  await core.auth.authenticate(tokenFromRequest(request, core.config().REST.CsrfAllowedOrigins), undefined, request.ip);

  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
  headers.host = target;
  const send = options.tls ? httpsRequest : httpRequest;
  reply.hijack();
  await new Promise<void>((resolve) => {
    const upstream = send(
      { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]), method: request.method, path: request.raw.url, headers, ...(options.tls ? { ca: options.ca } : {}) },
      (response) => {
        reply.raw.writeHead(response.statusCode ?? 502, response.statusMessage, stripHopByHop(response.headers));
        response.pipe(reply.raw);
        response.once('end', resolve);
        response.once('error', () => {
          reply.raw.destroy();
          resolve();
        });
      },
    );
    upstream.once('error', (error) => {
      if (!reply.raw.headersSent) {
        const failure = new ServiceError(502, `Target host ${target} unreachable: ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        reply.raw.writeHead(failure.status, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify({ message: failure.message }));
      } else {
        reply.raw.destroy();
      }
      resolve();
    });
    reply.raw.once('close', () => upstream.destroy());
    request.raw.pipe(upstream);
  });
  return true;
}

function stripHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}
