import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

export interface BodyPace {
  /** Length of the window over which a body must keep arriving. */
  windowSeconds: number;
  /** Bytes per second the client must average over each window. */
  minBytesPerSecond: number;
}

interface Watched {
  request: IncomingMessage;
  socket: Socket;
  windowStartMs: number;
  bytesAtWindowStart: number;
}

const SWEEP_MS = 1000;

/**
 * Cuts request bodies that stop arriving: over each window a body must bring at least
 * `minBytesPerSecond × windowSeconds` bytes, or its connection is closed. This judges idleness
 * and trickling, never total duration: a 1 GiB upload may take an hour as long as it keeps
 * moving, and once a body is complete nothing is timed (syncrun held until its command ends,
 * long-polls, MCP SSE streams). When the daemon itself is behind (the body's buffer is full
 * because its reader is slow), the client is not blamed and the window starts over.
 */
export function watchRequestBodies(server: Server, pace: () => BodyPace): void {
  const watched = new Set<Watched>();

  server.on('request', (request: IncomingMessage) => {
    if (request.complete) return;
    const socket = request.socket;
    watched.add({ request, socket, windowStartMs: Date.now(), bytesAtWindowStart: socket.bytesRead });
  });

  const sweeper = setInterval(() => {
    const now = Date.now();
    const { windowSeconds, minBytesPerSecond } = pace();
    for (const entry of watched) {
      const { request, socket } = entry;
      if (request.complete || socket.destroyed) {
        watched.delete(entry);
        continue;
      }
      if (now - entry.windowStartMs < windowSeconds * 1000) continue;
      const received = socket.bytesRead - entry.bytesAtWindowStart;
      const readerBehind = request.readableLength >= request.readableHighWaterMark;
      if (received < minBytesPerSecond * windowSeconds && !readerBehind) {
        watched.delete(entry);
        socket.destroy();
        continue;
      }
      entry.windowStartMs = now;
      entry.bytesAtWindowStart = socket.bytesRead;
    }
  }, SWEEP_MS);
  sweeper.unref();
  server.on('close', () => clearInterval(sweeper));
}
