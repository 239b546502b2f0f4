import type { FastifyInstance } from 'fastify';
import type { Core } from '../../service/core.js';
import type { ListQuery } from '../../service/app-service.js';

type NameParams = { Params: { name: string } };

export function registerAppRoutes(app: FastifyInstance, core: Core): void {
  app.get<{ Querystring: ListQuery }>('/appmesh/applications', async (request) => core.apps.list(await request.principal(), request.query));

  // Many apps in one call: enable, disable or delete by names, label selector or all.
  app.post('/appmesh/applications/bulk', async (request) => core.apps.bulk(await request.principal(), request.body));

  app.get<NameParams>('/appmesh/app/:name', async (request) => core.apps.get(await request.principal(), request.params.name.trim()));

  app.put<NameParams>('/appmesh/app/:name', async (request) => core.apps.register(await request.principal(), request.params.name.trim(), request.body));

  app.delete<NameParams>('/appmesh/app/:name', async (request) => ({ message: await core.apps.remove(await request.principal(), request.params.name.trim()) }));

  app.post<NameParams>('/appmesh/app/:name/enable', async (request) => ({ message: await core.apps.setEnabled(await request.principal(), request.params.name.trim(), true) }));

  app.post<NameParams>('/appmesh/app/:name/disable', async (request) => ({ message: await core.apps.setEnabled(await request.principal(), request.params.name.trim(), false) }));

  app.get<NameParams>('/appmesh/app/:name/health', async (request, reply) => {
    reply.type('text/plain; charset=utf-8');
    return String(core.apps.health(request.params.name.trim()));
  });
}
