import type { FastifyInstance } from 'fastify';
import type { Core } from '../src/service/core.js';
import type { EventSubscriptions } from '../src/transport/event-subscriptions.js';
import { registerMcpRoutes } from './mcp-http.js';
import { registerOAuthRoutes } from './oauth/oauth-routes.js';

/** Mounts the MCP face (`/mcp`) and its OAuth bridge on the daemon's REST listener; `events` feed the sessions' log notifications. */
export function mountMcp(app: FastifyInstance, core: Core, events?: EventSubscriptions): void {
  registerOAuthRoutes(app, core);
  const mcp = registerMcpRoutes(app, core, events);
  app.addHook('onClose', async () => mcp.close());
}
