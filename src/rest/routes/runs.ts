import type { FastifyInstance } from 'fastify';
import type { Core } from '../../service/core.js';
import type { ServerResponse } from 'node:http';
import type { CancelSource, OutputQuery, RunQuery } from '../../service/app-service.js';

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
    const result = await core.apps.runSync(principal, request.body, request.query, hangUpOf(reply.raw));
    reply.header('X-Exit-Code', String(result.exitCode)).header('X-Output-Position', String(result.position));
    return reply.type(TEXT).send(result.data);
  });
}

/**
 * The caller hanging up (its connection closed before the reply went out), as a run's cancel
 * source: a listener on the response, lighter than an AbortController per request.
 */
function hangUpOf(response: ServerResponse): CancelSource {
  const listeners = new Map<() => void, () => void>();
  return {
    addEventListener(_type, listener) {
      const onClose = () => {
        if (!response.writableFinished) listener();
      };
      listeners.set(listener, onClose);
      response.once('close', onClose);
    },
    removeEventListener(_type, listener) {
      const onClose = listeners.get(listener);
      if (onClose) response.off('close', onClose);
      listeners.delete(listener);
    },
  };
}
