import type { FastifyInstance } from 'fastify';
import type { Core } from '../../service/core.js';
import type { OutputQuery, RunQuery } from '../../service/app-service.js';

const TEXT = 'text/plain; charset=utf-8';

export function registerRunRoutes(app: FastifyInstance, core: Core): void {
  app.get<{ Params: { name: string }; Querystring: OutputQuery }>('/appmesh/app/:name/output', async (request, reply) => {
    const result = await core.apps.output(await request.principal(), request.params.name.trim(), request.query);
    if (result.position !== undefined) reply.header('X-Output-Position', String(result.position));
    if (result.exitCode !== undefined) reply.header('X-Exit-Code', String(result.exitCode));
    return reply.type(TEXT).send(result.data);
  });

  app.post<{ Querystring: RunQuery }>('/appmesh/app/run', async (request) => core.apps.runAsync(await request.principal(), request.body, request.query));

  app.post<{ Querystring: RunQuery }>('/appmesh/app/syncrun', async (request, reply) => {
    const principal = await request.principal();
    // A client that hangs up does not leave its command running.
    const abort = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    const result = await core.apps.runSync(principal, request.body, request.query, abort.signal);
    reply.header('X-Exit-Code', String(result.exitCode)).header('X-Output-Position', String(result.position));
    return reply.type(TEXT).send(result.data);
  });
}
