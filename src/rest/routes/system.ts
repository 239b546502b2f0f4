import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Core } from '../../service/core.js';
import { openApiDocument } from '../openapi.js';
import { buildVersion } from '../../observability/build-info.js';

export function registerSystemRoutes(app: FastifyInstance, _core: Core): void {
  // Answered as soon as the daemon listens: scripts wait on it after starting the daemon.
  app.get('/appmesh/readyz', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('OK'));

  // Built on first request, when every route (MCP and OAuth included) is registered.
  let document: Record<string, unknown> | undefined;
  app.get('/openapi.json', async () => (document ??= openApiDocument(app.routeTable, buildVersion)));

  // Events are pushed over a lasting connection; plain HTTP has none (App Mesh answers 405 too).
  const noPush = async (_request: unknown, reply: FastifyReply) =>
    reply.code(405).send({
      message: 'Subscribe requires a persistent connection (TCP or WebSocket); over HTTP, GET /appmesh/app/{name}/events streams them as Server-Sent Events; MQTT delivers them on <prefix>/<node>/events/<app>/<EVENT>',
    });
  app.post('/appmesh/app/:name/subscribe', noPush);
  app.post('/appmesh/subscribe', noPush);
  app.delete('/appmesh/app/:name/subscribe', noPush);
  app.delete('/appmesh/subscribe', noPush);
}
