import type { FastifyInstance } from 'fastify';
import type { Core } from '../src/service/core.js';
import { registerMcpRoutes } from './mcp-http.js';
import { registerOAuthRoutes } from './oauth/oauth-routes.js';

/** Mounts the MCP face (`/mcp`) and its OAuth bridge on the daemon's REST listener. */
export function mountMcp(app: FastifyInstance, core: Core): void {
  registerOAuthRoutes(app, core);
  const mcp = registerMcpRoutes(app, core);
  app.addHook('onClose', async () => mcp.close());
}
