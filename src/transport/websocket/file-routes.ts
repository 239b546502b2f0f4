import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename } from 'node:path';
import { FILE_AUDIENCE } from '../../auth/token-service.js';
import type { Core } from '../../service/core.js';
import { ServiceError } from '../../service/errors.js';

export const DOWNLOAD_PATH = '/appmesh/file/download/ws';
export const UPLOAD_PATH = '/appmesh/file/upload/ws';

/**
 * The file routes of the WebSocket port: bytes over plain HTTP, authorised by the short file
 * token a WebSocket reply handed out (audience appmesh-file-service, accepted nowhere else).
 * Returns false for any other request.
 */
export function serveFileRoute(core: Core, request: IncomingMessage, response: ServerResponse): boolean {
  const path = (request.url ?? '').split('?')[0];
  const download = request.method === 'GET' && path === DOWNLOAD_PATH;
  const upload = request.method === 'POST' && path === UPLOAD_PATH;
  if (!download && !upload) return false;
  void (download ? sendFile(core, request, response) : receiveFile(core, request, response)).catch((error: unknown) => fail(core, response, error));
  return true;
}

async function sendFile(core: Core, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const principal = await core.auth.authenticate(token(request), FILE_AUDIENCE, request.socket.remoteAddress);
  const file = await core.files.download(principal, header(request, 'x-file-path'));
  response.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': String(file.size),
    'X-File-Mode': String(file.mode),
    'X-File-User': file.user,
    'X-File-Group': file.group,
  });
  file.stream.on('error', () => response.destroy());
  file.stream.pipe(response);
  response.on('close', () => file.stream.destroy());
}

async function receiveFile(core: Core, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const principal = await core.auth.authenticate(token(request), FILE_AUDIENCE, request.socket.remoteAddress);
  const target = header(request, 'x-file-path');
  const length = Number(request.headers['content-length']);
  await core.files.upload(principal, target, request, {
    mode: header(request, 'x-file-mode'),
    user: header(request, 'x-file-user'),
    group: header(request, 'x-file-group'),
    contentLength: Number.isSafeInteger(length) && length >= 0 ? length : undefined,
  });
  const body = JSON.stringify({ status: 'success', file: basename(target ?? ''), size: Number.isSafeInteger(length) ? length : undefined });
  response.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8' }).end(body);
}

function fail(core: Core, response: ServerResponse, error: unknown): void {
  if (response.headersSent) return void response.destroy();
  const known = error instanceof ServiceError;
  if (!known) core.log.error(`WebSocket file route failed: ${(error as Error)?.stack ?? String(error)}`);
  // An unread request body would hold the connection: it closes after this reply.
  response.writeHead(known ? error.status : 500, { 'Content-Type': 'application/json; charset=utf-8', Connection: 'close', ...(known ? error.headers : {}) });
  response.end(JSON.stringify({ message: known ? error.message : 'Internal server error' }));
}

function token(request: IncomingMessage): string | undefined {
  return header(request, 'authorization')?.trim().replace(/^Bearer\s+/i, '').trim() || undefined;
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
