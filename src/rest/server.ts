import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { TlsFiles } from '../config/tls-files.js';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Core } from '../service/core.js';
import type { Principal } from '../auth/principal.js';
import { tokenFromRequest } from './auth-carrier.js';
import { sendError } from './error-mapper.js';
import { forwardIfTargeted, isTargeted } from './forwarding.js';
import { registerIdentityRoutes } from './routes/identity.js';
import { registerAppRoutes } from './routes/apps.js';
import { registerRunRoutes } from './routes/runs.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerUserRoutes } from './routes/users.js';
import { registerFileRoutes } from './routes/files.js';
import { registerTaskRoutes } from './routes/tasks.js';
import { registerConfigRoutes } from './routes/config.js';
import { registerObservabilityRoutes } from './routes/observability.js';
import { registerHttpMetrics } from './http-metrics.js';
import { guardConnections } from './connection-guard.js';
import { watchRequestBodies } from './body-watchdog.js';
import { registerEventStreamRoutes } from './routes/event-stream.js';
import type { EventSubscriptions } from '../transport/event-subscriptions.js';

export interface RestOptions {
  /** HTTPS files; `ca` verifies client certificates (when `verifyClient`) and the daemons requests are relayed to. */
  tls?: TlsFiles;
  bodyLimit: number;
  /** The core's event subscriptions: with them, Server-Sent Events are served. */
  subscriptions?: EventSubscriptions;
}

const CONNECTIONS_CHECK_MS = 1000;
const KNOWN_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']);
const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, POST, PUT, DELETE, OPTIONS, HEAD',
  'Access-Control-Allow-Headers': [
    'Authorization', 'Content-Type', 'X-Audience', 'X-Expire-Seconds', 'X-Set-Cookie', 'X-Permission', 'X-Totp-Code',
    'X-Refresh-Token', 'X-Refresh-Token-Request', 'X-Target-Host', 'X-File-Path', 'X-File-Mode', 'X-File-User',
    'X-File-Group', 'X-Send-File-Socket', 'X-Recv-File-Socket', 'X-CSRF-Token',
  ].join(', '),
  'Access-Control-Expose-Headers': 'X-Exit-Code, X-Output-Position, X-File-Mode, X-File-User, X-File-Group, Content-Type',
};

export interface RouteEntry {
  method: string;
  url: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every method and path registered (tests sweep it). */
    routeTable: readonly RouteEntry[];
  }
  interface FastifyContextConfig {
    /** False: no CORS headers on this route. */
    cors?: boolean;
  }
  interface FastifyRequest {
    /** Resolves the caller from the request's token (401 when absent or invalid). */
    principal(): Promise<Principal>;
  }
}

/** The REST face: App Mesh's HTTP API over the service layer. */
export function buildRestServer(core: Core, options: RestOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    schemaController: { compilersFactory: SCHEMA_COMPILERS_ON_USE },
    bodyLimit: options.bodyLimit,
    routerOptions: { ignoreDuplicateSlashes: true, maxParamLength: 1024 },
    // SDKs poll and hold long requests (syncrun up to their 300 s read timeout and beyond), and
    // uploads may take long: no total timeout. Slow clients are cut by idleness instead: headers
    // within Limits.HeadersTimeoutSeconds, bodies at a minimum pace (body-watchdog.ts).
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    // How often node looks for connections past their headers timeout (its default is 30 s).
    http: { connectionsCheckingInterval: CONNECTIONS_CHECK_MS },
    // Closing the daemon must not wait for long-polls and held sync runs.
    forceCloseConnections: true,
    // Router failures (a bad %-escape, a too-long name) get the same `{"message"}` body as the rest.
    frameworkErrors: (error, _request, reply) => {
      (reply as unknown as FastifyReply).code(error.statusCode ?? 400).type('application/json').send({ message: error.message });
    },
    ...(options.tls ? { https: { ...httpsOptions(options.tls), connectionsCheckingInterval: CONNECTIONS_CHECK_MS } } : {}),
  });

  const limits = () => core.config().Limits;
  guardConnections(app.server, () => ({ maxConnections: limits().MaxConnections, maxPerAddress: limits().MaxConnectionsPerAddress, silentSeconds: limits().HeadersTimeoutSeconds }), (message) => core.log.warn(message));
  // Read at every check, so a change applies to the next connection without a restart.
  app.server.on('connection', () => void (app.server.headersTimeout = limits().HeadersTimeoutSeconds * 1000));
  app.server.headersTimeout = limits().HeadersTimeoutSeconds * 1000;
  watchRequestBodies(app.server, () => ({ windowSeconds: limits().RequestTimeoutSeconds, minBytesPerSecond: limits().MinRequestBytesPerSecond }));

  // The routes served, for checks that must cover every one of them.
  const routeTable: RouteEntry[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routeTable.push({ method, url: route.url });
  });

  // Any other body type is kept as bytes (task payloads, uploads decide for themselves).
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.decorateRequest('principal', function (this: FastifyRequest) {
    return core.auth.authenticate(tokenFromRequest(this, core.config().REST.CsrfAllowedOrigins), undefined, this.ip);
  });

  registerHttpMetrics(app, core.observability);
  // A callback hook: a request that is not relayed goes on in the same turn, without a promise.
  app.addHook('onRequest', (request, reply, done) => {
    // A route may opt out (pages a browser opens directly, and /mcp, which checks Origin itself).
    if (!core.config().REST.CorsDisabled && request.routeOptions.config?.cors !== false) reply.headers(CORS_HEADERS);
    if (!KNOWN_METHODS.has(request.method)) {
      reply.code(405).type('application/json').send({ message: `Method ${request.method} not allowed` });
      return;
    }
    if (!isTargeted(request)) {
      done();
      return;
    }
    // Before any body is read: a relayed request streams through untouched.
    forwardIfTargeted(request, reply, core, { tls: Boolean(options.tls), ca: options.tls?.ca, clientCertificate: options.tls?.clientCertificate }).then(
      (forwarded) => {
        if (!forwarded) done();
      },
      (error: Error) => done(error),
    );
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply, core.log));
  app.setNotFoundHandler((request, reply) => notFound(request, reply));

  registerSystemRoutes(app, core);
  registerIdentityRoutes(app, core, { secure: Boolean(options.tls) });
  registerUserRoutes(app, core);
  registerAppRoutes(app, core);
  registerRunRoutes(app, core);
  registerFileRoutes(app, core);
  registerTaskRoutes(app, core);
  registerConfigRoutes(app, core);
  registerObservabilityRoutes(app, core);
  if (options.subscriptions) registerEventStreamRoutes(app, core, options.subscriptions);
  return app;
}

/**
 * Fastify's schema compilers (ajv, fast-json-stringify) load with the server; routes here carry
 * no JSON schemas (bodies are checked by the service layer's zod schemas), so they are required
 * only if a route ever brings one.
 */
// Resolved beside fastify, whose dependencies they are.
const requireOnUse = createRequire(createRequire(import.meta.url).resolve('fastify'));
type CompilerBuilder = (...args: unknown[]) => unknown;
let validatorBuilder: CompilerBuilder | undefined;
let serializerBuilder: CompilerBuilder | undefined;
const SCHEMA_COMPILERS_ON_USE = {
  buildValidator: (...args: unknown[]) => (validatorBuilder ??= (requireOnUse('@fastify/ajv-compiler') as () => CompilerBuilder)())(...args),
  buildSerializer: (...args: unknown[]) => (serializerBuilder ??= (requireOnUse('@fastify/fast-json-stringify-compiler') as () => CompilerBuilder)())(...args),
} as never;

/**
 * REST.SSL.VerifyClient: the handshake itself refuses a client without a certificate signed by
 * SSLCaPath, before any byte of HTTP is read.
 */
function httpsOptions(tls: TlsFiles): SecureContextOptions & TlsOptions {
  const base = { cert: readFileSync(tls.cert), key: readFileSync(tls.key), minVersion: 'TLSv1.2' as const };
  return tls.verifyClient ? { ...base, ca: tls.ca, requestCert: true, rejectUnauthorized: true } : base;
}

function notFound(request: FastifyRequest, reply: FastifyReply): void {
  // CORS preflight and HEAD probes succeed on any path.
  if (request.method === 'OPTIONS' || request.method === 'HEAD') {
    reply.code(200).send('');
    return;
  }
  reply.code(404).type('application/json').send({ message: `Path not found ${request.method}:${request.url.split('?')[0]}` });
}
