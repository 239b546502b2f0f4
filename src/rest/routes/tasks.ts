import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Core } from '../../service/core.js';

type TaskRequest = { Params: { name: string }; Querystring: { timeout?: string; process_key?: string } };

const OCTETS = 'application/octet-stream';

/** Task payloads are opaque bytes whatever their content type. */
function asBuffer(body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
}

function abortOnClose(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function registerTaskRoutes(app: FastifyInstance, core: Core): void {
  void app.register(async (scope) => {
    // In this scope every body arrives as raw bytes, JSON and text included.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    scope.post<TaskRequest>('/appmesh/app/:name/task', async (request, reply) => {
      const principal = await request.principal();
      const result = await core.tasks.send(principal, request.params.name.trim(), asBuffer(request.body), request.query.timeout, abortOnClose(reply));
      return reply.type(OCTETS).send(result);
    });

    scope.delete<TaskRequest>('/appmesh/app/:name/task', async (request, reply) => {
      const cancelled = core.tasks.cancel(await request.principal(), request.params.name.trim());
      return cancelled ? reply.send({ message: 'Task cancelled' }) : reply.code(208).send('');
    });

    scope.get<TaskRequest>('/appmesh/app/:name/task', async (request, reply) => {
      const payload = await core.tasks.fetch(request.params.name.trim(), request.query.process_key, abortOnClose(reply));
      return reply.type(OCTETS).send(payload);
    });

    scope.put<TaskRequest>('/appmesh/app/:name/task', async (request, reply) => {
      core.tasks.reply(request.params.name.trim(), request.query.process_key, asBuffer(request.body));
      return reply.send('');
    });
  });
}
