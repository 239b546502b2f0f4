import { readFileSync } from 'node:fs';
import { createServer as createPlainServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { TlsFiles } from '../../config/tls-files.js';
import { FrameError, FrameReader, frame, type Framing } from '../framing.js';
import { ApiSession, type FaceContext, type SessionLimits } from '../session.js';
import { ConnectionCaps } from '../connection-caps.js';

export interface TcpFaceOptions extends FaceContext {
  host: string;
  port: number;
  /** REST.SSL's certificate: the transport speaks TLS; without, plain TCP. */
  tls?: TlsFiles;
}

export interface TcpFace {
  readonly port: number;
  /** Open connections now. */
  connections(): number;
  close(): Promise<void>;
}

/** Headroom of a frame over the largest request body: the message's other fields. */
export const FRAME_OVERHEAD_BYTES = 64 * 1024;
/** A logged-in connection with nothing in flight and no subscription is closed after this long. */
export const IDLE_SECONDS = 600;

/** The bounds of one connection (unread events from Limits, read at each delivery). */
export function sessionLimits(limits: () => { MaxUnreadEventBytes: number }): () => SessionLimits {
  return () => ({ maxInFlight: 32, maxQueuedBytes: limits().MaxUnreadEventBytes, maxUnauthenticated: 8 });
}

/**
 * The TCP transport (REST.RestTcpPort): msgpack messages in the 8-byte framing of current clients
 * or the 4-byte one of the npm client 1.2.0, answered in the framing the connection speaks.
 */
export async function startTcpFace(options: TcpFaceOptions): Promise<TcpFace> {
  const { core } = options;
  const limits = () => core.config().Limits;
  const caps = new ConnectionCaps(() => ({ maxConnections: limits().MaxConnections, maxPerAddress: limits().MaxConnectionsPerAddress }));
  const onConnection = (socket: Socket) => {
    const client = socket.remoteAddress ?? 'unknown';
    if (!caps.admit(socket, client)) return;
    serveConnection(socket, client, options);
  };
  // node:tls is loaded only when TLS is on: about 3 MiB a daemon without it never needs.
  const server: Server = options.tls
    ? (await import('node:tls')).createServer({ cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key), minVersion: 'TLSv1.2', ...(options.tls.verifyClient ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, onConnection)
    : createPlainServer(onConnection);
  // A failed TLS handshake is that client's problem, never the daemon's.
  server.on('tlsClientError', (_error: Error, socket: Socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => core.log.error(`TCP transport: ${error.message}`));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => caps.open,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        caps.destroyAll();
      }),
  };
}

function serveConnection(socket: Socket, client: string, options: TcpFaceOptions): void {
  const { core } = options;
  const reader = new FrameReader({ maxFrameBytes: core.config().Limits.RequestBodyLimitBytes + FRAME_OVERHEAD_BYTES });
  let framing: Framing = 'magic';
  let closing = false;
  const close = (reason: string): void => {
    if (closing) return;
    closing = true;
    core.log.warn(`TCP connection from ${client} closed: ${reason}`);
    socket.destroy();
  };
  const session = new ApiSession(
    options,
    {
      send: (message) => void (socket.destroyed || socket.write(frame(framing, message))),
      queuedBytes: () => socket.writableLength,
      close,
      jsonAsMap: () => framing === 'length',
      frames: {
        sendFrame: (bytes) =>
          new Promise<void>((resolve) => {
            if (socket.destroyed || socket.write(frame(framing, bytes))) return resolve();
            const done = () => {
              socket.off('drain', done);
              socket.off('close', done);
              resolve();
            };
            socket.once('drain', done);
            socket.once('close', done);
          }),
        pauseInput: () => socket.pause(),
        resumeInput: () => socket.resume(),
      },
    },
    client,
    sessionLimits(() => core.config().Limits),
  );
  socket.setNoDelay(true);
  // Until it logs in, a connection has the time of a request's headers; then it may idle longer.
  socket.setTimeout(core.config().Limits.HeadersTimeoutSeconds * 1000);
  socket.on('timeout', () => {
    if (!session.loggedIn) return close('no authentication in time');
    if (!session.busy) close('idle');
  });
  socket.on('data', (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = reader.push(chunk);
    } catch (error) {
      if (error instanceof FrameError) return close(error.message);
      throw error;
    }
    framing = reader.framing ?? framing;
    for (const message of frames) {
      session.onFrame(message);
      if (closing) return;
    }
    if (session.loggedIn) socket.setTimeout(IDLE_SECONDS * 1000);
  });
  socket.on('end', () => {
    if (reader.pendingBytes > 0) close(`truncated frame (${reader.pendingBytes} bytes)`);
    else socket.end();
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => session.close());
}
