import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../service/core.js';
import { tokenFromRequest } from './auth-carrier.js';
import { injectedAbortSignal } from './inject-signal.js';

const TARGET_HEADER = 'x-target-host';
// Hop-by-hop headers belong to one connection, not to the request being relayed.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', TARGET_HEADER]);
// The caller's credentials: replaced by its bearer token, the only one the node needs; cookies stay here.
const CREDENTIALS = new Set(['authorization', 'cookie', 'x-csrf-token']);

export interface ForwardingOptions {
  /** Relay over TLS (the cluster's daemons all speak what this one speaks). */
  tls: boolean;
  /** CA that signs the other daemons' certificates, if any. */
  ca?: Buffer;
  /** Presented to nodes that verify clients (REST.SSL.SSLClientCertificateFile). */
  clientCertificate?: { cert: Buffer; key: Buffer };
}

/** Whether the request asks to be relayed to another daemon. */
export function isTargeted(request: FastifyRequest): boolean {
  return request.headers[TARGET_HEADER] !== undefined;
}

/**
 * `X-Target-Host: host:port` relays the request, unchanged but for that header and the caller's
 * credentials, to another daemon of the cluster and relays its answer back. Whether it may go
 * there is the relay service's decision; here the bytes are carried, within
 * `REST.ForwardTimeoutSeconds`, and dropped as soon as the caller goes away (an HTTP client that
 * disconnects, or an MQTT request whose time ran out).
 */
export async function forwardIfTargeted(request: FastifyRequest, reply: FastifyReply, core: Core, options: ForwardingOptions): Promise<boolean> {
  const raw = request.headers[TARGET_HEADER];
  if (raw === undefined) return false;
  const route = core.relay.parseTarget(Array.isArray(raw) ? (raw[0] ?? '') : raw);
  const token = tokenFromRequest(request, core.config().REST.CsrfAllowedOrigins);
  const principal = await core.auth.authenticate(token, undefined, request.ip);
  core.relay.admit(principal, route, options.tls);

  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(request.headers)) if (!HOP_BY_HOP.has(name) && !CREDENTIALS.has(name)) headers[name] = value;
  headers.host = route.authority;
  headers.authorization = `Bearer ${token}`;
  const timeoutSeconds = core.config().REST.ForwardTimeoutSeconds;
  // node:https (and TLS with it) loads with the first relay over TLS, not with every start.
  const send = options.tls ? (await import('node:https')).request : httpRequest;
  reply.hijack();
  await new Promise<void>((resolve) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(deadline);
      injected?.removeEventListener('abort', abandon);
      resolve();
      return true;
    };
    const fail = (status: number, message: string) => {
      if (!settle()) return;
      upstream.destroy();
      if (reply.raw.headersSent) {
        reply.raw.destroy();
        return;
      }
      reply.raw.writeHead(status, { 'content-type': 'application/json' });
      reply.raw.end(JSON.stringify({ message }));
    };
    const tooSlow = () => fail(504, `Target host ${route.authority} did not answer within ${timeoutSeconds} s (REST.ForwardTimeoutSeconds)`);
    // Connect and answer (the response's headers) within the timeout, however slowly bytes trickle.
    const deadline = setTimeout(tooSlow, timeoutSeconds * 1000);
    const upstream = send(
      {
        host: route.host, port: route.port, method: request.method, path: request.raw.url, headers,
        // Also bounds silence after the headers (a body that stops coming).
        timeout: timeoutSeconds * 1000,
        ...(options.tls ? { ca: options.ca, ...options.clientCertificate } : {}),
      },
      (response) => {
        clearTimeout(deadline);
        reply.raw.writeHead(response.statusCode ?? 502, response.statusMessage, stripHopByHop(response.headers));
        response.pipe(reply.raw);
        response.once('end', settle);
        response.once('error', () => fail(502, `Target host ${route.authority} broke off its answer`));
      },
    );
    upstream.on('timeout', tooSlow);
    upstream.on('error', (error: NodeJS.ErrnoException) => fail(502, `Target host ${route.authority} unreachable: ${error.code ?? error.message}`));
    // The caller gave up: an HTTP client that went away, or an injected request aborted by its
    // signal (whose face waits for the response to end before it frees the request's slot).
    const abandon = () => fail(504, `Relay to ${route.authority} abandoned: the caller stopped waiting`);
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abandon();
    });
    request.raw.on('error', abandon);
    request.raw.once('aborted', abandon);
    const injected = injectedAbortSignal(request.raw);
    if (injected?.aborted) abandon();
    injected?.addEventListener('abort', abandon, { once: true });
    request.raw.pipe(upstream);
  });
  return true;
}

function stripHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}
