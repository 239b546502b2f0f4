import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ServiceError } from '../service/errors.js';
import type { Logger } from '../util/log.js';

/** The one mapping of failures to HTTP: status + `{"message"}`, never a 500 for client mistakes. */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply, log: Logger): void {
  if (error instanceof ServiceError) {
    reply.code(error.status).headers(error.headers);
    if (error.emptyBody) reply.send('');
    else reply.type('application/json').send(error.body ?? { message: error.message });
    return;
  }
  const fastifyError = error as FastifyError;
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    reply.code(status).type('application/json').send({ message: clientErrorMessage(fastifyError) });
    return;
  }
  log.error(`${request.method} ${request.url.split('?')[0]} failed: ${(error as Error)?.stack ?? String(error)}`);
  reply.code(500).type('application/json').send({ message: 'Internal server error' });
}

function clientErrorMessage(error: FastifyError): string {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return `Invalid JSON body: ${error.message}`;
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'Request body is too large';
    default:
      return error.message;
  }
}
