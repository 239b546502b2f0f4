import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import type { EventSubscriptions } from '../src/transport/event-subscriptions.js';
import { ServiceError } from '../src/service/errors.js';
import { MCP_AUDIENCE, TokenService } from '../src/auth/token-service.js';
import type { McpSession } from './mcp-session.js';
import { publicBaseUrl } from './oauth/base-url.js';
import { checkHost, checkOrigin, crossOriginAllowed } from './allowed-hosts.js';

interface Session extends McpSession {
  user: string;
  lastUsedMs: number;
}

/**
 * The MCP SDK is large: an idle daemon does without it. It is loaded in the background as soon as
 * anything but a probe arrives (a login, a first /mcp request), so a first session seldom waits.
 */
let sessionsModule: Promise<typeof import('./mcp-session.js')> | undefined;
const loadSessions = () => (sessionsModule ??= import('./mcp-session.js'));
/** Probes and scrapes that say nothing of a session to come. */
const PROBES = new Set(['/appmesh/readyz', '/metrics', '/appmesh/metrics', '/favicon.ico']);

const isInitialize = (body: unknown): boolean => typeof body === 'object' && body !== null && (body as { method?: unknown }).method === 'initialize';

/** The audience a token names, read from its payload (signature checked later); the last token's is kept. */
let lastToken: { token: string; audience?: string } | undefined;
function audienceOf(token: string): string | undefined {
  if (lastToken?.token !== token) lastToken = { token, audience: TokenService.peek(token)?.aud };
  return lastToken.audience;
}

const SESSION_IDLE_MS = 30 * 60 * 1000;
/** Headers a page of a configured origin may send and read (the transport's own). */
const MCP_CORS = {
  'Access-Control-Allow-Methods': 'GET, POST, DELETE',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID',
  'Access-Control-Expose-Headers': 'Mcp-Session-Id, WWW-Authenticate',
  Vary: 'Origin',
};
const MAX_SESSIONS = 1000;

/** Where an unauthenticated client learns how to log in (RFC 9728). */
export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';

/**
 * MCP over Streamable HTTP at `/mcp`, on the REST listener. Every request carries an App Mesh
 * token (`Authorization: Bearer`) of the REST audience or of the MCP audience (issued by the
 * OAuth bridge); a session belongs to the user that opened it, and each tool call runs as the
 * principal of its own request. Host and Origin are checked first (DNS rebinding).
 */
export function registerMcpRoutes(app: FastifyInstance, core: Core, events?: EventSubscriptions): { close(): Promise<void> } {
  const sessions = new Map<string, Session>();
  /** Sessions whose initialize is being served: they count against the caps already. */
  let opening = 0;
  const sessionsOf = (user: string) => {
    let held = 0;
    for (const session of sessions.values()) if (session.user === user) held++;
    return held;
  };
  const sweeper = setInterval(() => {
    const cutoff = Date.now() - SESSION_IDLE_MS;
    for (const [id, session] of sessions) if (session.lastUsedMs < cutoff) void closeSession(id);
  }, 60_000);
  sweeper.unref();

  async function closeSession(id: string): Promise<void> {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    await session.server.close().catch(() => undefined);
  }

  async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<Principal | undefined> {
    const header = request.headers.authorization?.trim();
    const token = header?.replace(/^Bearer\s+/i, '').trim();
    try {
      checkHost(request, core);
      checkOrigin(request, core);
      const allowedOrigin = crossOriginAllowed(request, core);
      if (allowedOrigin) reply.raw.setHeader('Access-Control-Allow-Origin', allowedOrigin).setHeader('Vary', 'Origin').setHeader('Access-Control-Expose-Headers', MCP_CORS['Access-Control-Expose-Headers']);
      const audience = token && audienceOf(token) === MCP_AUDIENCE ? MCP_AUDIENCE : undefined;
      return await core.auth.authenticate(token || undefined, audience, request.ip);
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      if (error.status === 401) {
        reply.header('WWW-Authenticate', `Bearer resource_metadata="${publicBaseUrl(request)}${PROTECTED_RESOURCE_PATH}", scope="appmesh"`);
      }
      reply.code(error.status).type('application/json').send({ message: error.message });
      return undefined;
    }
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const principal = await authenticate(request, reply);
    if (!principal) return;
    const sessionId = request.headers['mcp-session-id'];
    let session = typeof sessionId === 'string' ? sessions.get(sessionId) : undefined;
    if (typeof sessionId === 'string' && !session) {
      reply.code(404).send({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
      return;
    }
    if (session && session.user !== principal.name) {
      reply.code(403).send({ jsonrpc: '2.0', error: { code: -32003, message: 'This session belongs to another user' }, id: null });
      return;
    }
    if (!session) {
      if (request.method !== 'POST' || !isInitialize(request.body)) {
        reply.code(400).send({ jsonrpc: '2.0', error: { code: -32000, message: 'No session: send initialize first' }, id: null });
        return;
      }
      if (sessions.size + opening >= MAX_SESSIONS) {
        reply.code(503).send({ jsonrpc: '2.0', error: { code: -32000, message: 'Too many MCP sessions' }, id: null });
        return;
      }
      let release: () => void;
      try {
        release = core.shares.reserve('MaxMcpSessionsPerUser', principal.name, sessionsOf(principal.name));
      } catch (error) {
        if (!(error instanceof ServiceError)) throw error;
        reply.code(error.status).headers(error.headers).send({ jsonrpc: '2.0', error: { code: -32000, message: error.message }, id: null });
        return;
      }
      // Held until the initialize below has registered the session (or failed).
      opening++;
      try {
        session = await openSession(principal);
        await serve(session, principal, request, reply);
      } finally {
        opening--;
        release();
      }
      return;
    }
    await serve(session, principal, request, reply);
  }

  async function serve(session: Session, principal: Principal, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    session.lastUsedMs = Date.now();
    const authInfo = { token: principal.token ?? '', clientId: principal.name, scopes: ['appmesh'], expiresAt: principal.expiresAt, extra: { principal } };
    reply.hijack();
    await session.transport.handle(request.raw, reply.raw, request.body, authInfo);
  }

  async function openSession(principal: Principal): Promise<Session> {
    const { openMcpSession } = await loadSessions();
    const session: Session = {
      ...openMcpSession(core, principal, (id) => void sessions.set(id, session), (id) => void closeSession(id), events),
      user: principal.name,
      lastUsedMs: Date.now(),
    };
    return session;
  }

  app.addHook('onRequest', (request, _reply, done) => {
    if (!sessionsModule && !PROBES.has(request.url.split('?')[0])) {
      // Once loaded, a session of the daemon's own with itself does a first session's first-time work, unless a client's came first.
      void loadSessions()
        .then(({ warmUpSession }) => setImmediate(() => (sessions.size + opening === 0 ? void warmUpSession(core).catch(() => undefined) : undefined)))
        .catch(() => (sessionsModule = undefined));
    }
    done();
  });

  // No open CORS here: only a configured origin may use /mcp from a page (see authenticate).
  const routeOptions = { config: { cors: false } };
  app.post('/mcp', routeOptions, handle);
  app.get('/mcp', routeOptions, handle);
  app.delete('/mcp', routeOptions, handle);
  app.options('/mcp', routeOptions, async (request, reply) => {
    checkHost(request, core);
    checkOrigin(request, core);
    const origin = crossOriginAllowed(request, core);
    if (origin) reply.headers({ ...MCP_CORS, 'Access-Control-Allow-Origin': origin });
    return reply.code(204).send();
  });

  return {
    async close() {
      clearInterval(sweeper);
      await Promise.all([...sessions.keys()].map((id) => closeSession(id)));
    },
  };
}
