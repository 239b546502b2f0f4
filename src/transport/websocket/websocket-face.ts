import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { TlsFiles } from '../../config/tls-files.js';
import { ConnectionCaps } from '../connection-caps.js';
import type { Principal } from '../../auth/principal.js';
import { serveFileRoute } from './file-routes.js';
import { ApiSession, type FaceContext } from '../session.js';
import { FRAME_OVERHEAD_BYTES, IDLE_SECONDS, sessionLimits } from '../tcp/tcp-face.js';

export const SUBPROTOCOL = 'appmesh-ws';

export interface WebSocketFaceOptions extends FaceContext {
  host: string;
  port: number;
  tls?: TlsFiles;
  /** Issues the short file token of a file transfer (audience appmesh-file-service). */
  fileToken: (principal: Principal) => Promise<string>;
}

export interface WebSocketFace {
  readonly port: number;
  connections(): number;
  close(): Promise<void>;
}

// Close codes of RFC 6455: the peer sent data that is not a message of ours / too large.
const INVALID_PAYLOAD = 1007;
const POLICY_VIOLATION = 1008;

/**
 * The WebSocket transport (REST.WebSocketPort): one binary message = one msgpack request or
 * reply, subprotocol appmesh-ws, at path `/`; every other HTTP request on the port is the REST API.
 */
export async function startWebSocketFace(options: WebSocketFaceOptions): Promise<WebSocketFace> {
  const { core, rest } = options;
  const limits = () => core.config().Limits;
  const caps = new ConnectionCaps(() => ({ maxConnections: limits().MaxConnections, maxPerAddress: limits().MaxConnectionsPerAddress }));
  const serveHttp = (request: IncomingMessage, response: ServerResponse) => {
    if (!serveFileRoute(core, request, response)) rest.routing(request, response);
  };
  // node:https (and TLS with it) is loaded only when TLS is on: about 3 MiB a daemon without it never needs.
  const server: Server = options.tls
    ? (await import('node:https')).createServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key), minVersion: 'TLSv1.2', ...(options.tls.verifyClient ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, serveHttp)
    : createHttpServer(serveHttp);
  server.headersTimeout = limits().HeadersTimeoutSeconds * 1000;
  server.on('connection', (socket: Socket) => void caps.admit(socket, socket.remoteAddress ?? 'unknown'));
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: limits().RequestBodyLimitBytes + FRAME_OVERHEAD_BYTES,
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => {
    const path = (request.url ?? '/').split('?')[0];
    const offered = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (path !== '/' || !offered.includes(SUBPROTOCOL)) {
      socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\nWebSocket needs path / and subprotocol ${SUBPROTOCOL}\n`);
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => serveConnection(ws, request.socket.remoteAddress ?? 'unknown', options));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => core.log.error(`WebSocket transport: ${error.message}`));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => caps.open,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets.clients) ws.terminate();
        sockets.close();
        server.close(() => resolve());
        server.closeAllConnections();
        caps.destroyAll();
      }),
  };
}

function serveConnection(ws: WebSocket, client: string, options: WebSocketFaceOptions): void {
  const { core } = options;
  let closing = false;
  const close = (reason: string, code = POLICY_VIOLATION): void => {
    if (closing) return;
    closing = true;
    core.log.warn(`WebSocket connection from ${client} closed: ${reason}`);
    ws.close(code, reason.slice(0, 120));
    // A peer that never answers the close handshake does not keep the socket.
    setTimeout(() => ws.terminate(), 2000).unref();
  };
  const session = new ApiSession(
    options,
    {
      send: (message) => void (ws.readyState === ws.OPEN && ws.send(message, { binary: true })),
      queuedBytes: () => ws.bufferedAmount,
      close: (reason) => close(reason, reason.startsWith('not a msgpack message') ? INVALID_PAYLOAD : POLICY_VIOLATION),
      jsonAsMap: () => false,
      fileToken: options.fileToken,
    },
    client,
    sessionLimits(() => core.config().Limits),
  );
  let timer: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    clearTimeout(timer);
    const seconds = session.loggedIn ? IDLE_SECONDS : core.config().Limits.HeadersTimeoutSeconds;
    timer = setTimeout(() => {
      if (!session.loggedIn) close('no authentication in time');
      else if (!session.busy) close('idle');
      else armIdle();
    }, seconds * 1000);
    timer.unref();
  };
  armIdle();
  ws.on('message', (data: RawData, isBinary: boolean) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    // Empty messages are ignored (clients send them as keep-alives).
    if (bytes.length === 0) return;
    if (!isBinary) return close('text message (appmesh-ws carries binary msgpack messages)', INVALID_PAYLOAD);
    session.onMessage(bytes);
    armIdle();
  });
  ws.on('error', (error) => {
    if (!closing) core.log.warn(`WebSocket connection from ${client} closed: ${error.message}`);
    closing = true;
  });
  ws.on('close', () => {
    clearTimeout(timer);
    session.close();
  });
}
