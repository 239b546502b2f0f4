import type { FastifyInstance } from 'fastify';
import type { Core } from '../../service/core.js';

export function registerConfigRoutes(app: FastifyInstance, core: Core): void {
  app.get('/appmesh/config', async (request) => core.settings.view(await request.principal()));
  app.post('/appmesh/config', async (request) => core.settings.update(await request.principal(), request.body));

  app.get('/appmesh/labels', async (request) => core.settings.labels(await request.principal()));
  app.put<{ Params: { label: string }; Querystring: { value?: string } }>('/appmesh/label/:label', async (request) => ({
    message: await core.settings.setLabel(await request.principal(), request.params.label.trim(), request.query.value),
  }));
  app.delete<{ Params: { label: string } }>('/appmesh/label/:label', async (request) => ({
    message: await core.settings.deleteLabel(await request.principal(), request.params.label.trim()),
  }));
}
