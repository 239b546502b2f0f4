import type { FastifyInstance } from 'fastify';
import type { Core } from '../../service/core.js';

export function registerSystemRoutes(app: FastifyInstance, _core: Core): void {
  // Answered as soon as the daemon listens: scripts wait on it after starting the daemon.
  app.get('/appmesh/readyz', async (_request, reply) => reply.type('text/plain; charset=utf-8').send('OK'));
}
