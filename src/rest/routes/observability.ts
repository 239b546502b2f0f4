import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Core } from '../../service/core.js';

export function registerObservabilityRoutes(app: FastifyInstance, core: Core): void {
  const metrics = async (_request: unknown, reply: FastifyReply) => {
    const { contentType, text } = await core.observability.metricsText();
    return reply.type(contentType).send(text);
  };
  app.get('/appmesh/metrics', metrics);
  app.get('/metrics', metrics);

  app.get('/appmesh/resources', async (request) => core.observability.resources(await request.principal()));
}
