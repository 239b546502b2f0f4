import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../../service/core.js';

// An unread rest up to this size is received and dropped, so the client reads its answer on a
// connection that stays usable; beyond it the connection is closed instead.
const DRAIN_LIMIT_BYTES = 16 * 1024 * 1024;

export function registerFileRoutes(app: FastifyInstance, core: Core): void {
  // No automatic HEAD twin: it would read the whole file only to discard it.
  app.get('/appmesh/file/download', { exposeHeadRoute: false }, async (request, reply) => {
    const file = await core.files.download(await request.principal(), header(request, 'x-file-path'));
    reply.code(200).headers({
      'Content-Type': 'application/octet-stream',
      'Content-Disposition': `attachment; filename=${encodeURIComponent(file.name)}`,
      'Content-Length': String(file.size),
      'X-File-Mode': String(file.mode),
      'X-File-User': file.user,
      'X-File-Group': file.group,
    });
    return reply.send(file.stream);
  });

  // Its own scope: the body reaches the handler as the request stream, never buffered by fastify.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    scope.post('/appmesh/file/upload', async (request, reply) => {
      try {
        const principal = await request.principal();
        const body = (request.body as Readable | undefined) ?? request.raw;
        const length = Number(request.headers['content-length']);
        await core.files.upload(principal, header(request, 'x-file-path'), body, {
          mode: header(request, 'x-file-mode'),
          user: header(request, 'x-file-user'),
          group: header(request, 'x-file-group'),
          contentType: request.headers['content-type'],
          contentLength: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
        });
      } catch (error) {
        dropUnreadBody(request, reply);
        throw error;
      }
      return { message: 'Success' };
    });
  });
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function dropUnreadBody(request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) return;
  const declared = Number(raw.headers['content-length']);
  if (Number.isFinite(declared) && declared > DRAIN_LIMIT_BYTES) {
    reply.header('Connection', 'close');
    return;
  }
  // Unknown length (chunked): drain, but no further than the limit.
  let drained = 0;
  raw.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT_BYTES) raw.destroy();
  });
}
