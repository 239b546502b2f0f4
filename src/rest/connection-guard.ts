import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';

export interface ConnectionLimits {
  /** Open connections in total. */
  maxConnections: number;
  /** Open connections from one client address. */
  maxPerAddress: number;
  /** A connection without a first request after this long is closed (node times headers only from their first byte, and a TLS handshake alone is no request). */
  silentSeconds: number;
}

export interface ConnectionGuard {
  /** Open connections, and the largest number the guard lets in at the moment. */
  stats(): { open: number; addresses: number; allowed: number; refused: number; evicted: number };
}

/** Descriptors kept for everything else the daemon opens: files, pipes of runs, the broker, logs. */
const RESERVED_FRACTION = 0.25;
const MIN_RESERVED = 64;
const SWEEP_MS = 1000;

/**
 * Caps the listener's open connections, in total and per client address, at accept time: a
 * connection over a cap is closed before it costs a request parser or a descriptor for long.
 *
 * Per address first, so one client (or one flood) never holds more than its share. At the total
 * cap a newcomer takes the place of the oldest connection that is not being answered (silent,
 * idle between requests, or still sending its request): a flood spread over many addresses
 * cannot keep others out, since a newcomer's request is complete long before thousands of newer
 * connections push it out, and requests being answered (a held syncrun, an MCP stream, a
 * download) are never the ones closed. Only when every connection is being answered is the
 * newcomer refused. The total is also kept below the process's open-file limit: running out of
 * descriptors would stop logins, runs and file I/O too.
 */
export function guardConnections(server: Server, limits: () => ConnectionLimits, warn: (message: string) => void): ConnectionGuard {
  /** Every open connection, oldest first, with its client address. */
  const all = new Map<Socket, string>();
  const byAddress = new Map<string, number>();
  /** The exchange each connection is in, from its request to the end of its response. */
  const exchanges = new Map<Socket, { request: IncomingMessage; response: ServerResponse }>();
  let refused = 0;
  let evicted = 0;
  const descriptorCap = descriptorBudget();
  let warnedAbout = 0;
  let lastRefusalWarningMs = 0;
  /** Connections that have not made a request yet, with the time they opened. */
  const silent = new Map<Socket, number>();
  const sweeper = setInterval(() => {
    const cutoff = Date.now() - limits().silentSeconds * 1000;
    for (const [socket, openedAtMs] of silent) {
      if (socket.destroyed) silent.delete(socket);
      else if (openedAtMs < cutoff) {
        silent.delete(socket);
        socket.destroy();
      }
    }
  }, SWEEP_MS);
  sweeper.unref();
  server.on('close', () => clearInterval(sweeper));

  const allowed = (): number => {
    const configured = limits().maxConnections;
    if (descriptorCap !== undefined && configured > descriptorCap) {
      if (warnedAbout !== configured) {
        warnedAbout = configured;
        warn(`Limits.MaxConnections ${configured} is above what the open-file limit allows; at most ${descriptorCap} connections are kept open`);
      }
      return descriptorCap;
    }
    return configured;
  };

  const refuse = (socket: Socket, why: string): void => {
    refused++;
    socket.destroy();
    const now = Date.now();
    // One line a minute at most: a flood must not flood the log as well.
    if (now - lastRefusalWarningMs > 60_000) {
      lastRefusalWarningMs = now;
      warn(`refusing connections: ${why}`);
    }
  };

  const forget = (socket: Socket): void => {
    const address = all.get(socket);
    if (address === undefined) return;
    all.delete(socket);
    exchanges.delete(socket);
    const held = (byAddress.get(address) ?? 1) - 1;
    if (held === 0) byAddress.delete(address);
    else byAddress.set(address, held);
  };

  /** Whole request received and its answer under way: closing it would lose real work. */
  const beingAnswered = (socket: Socket): boolean => {
    const exchange = exchanges.get(socket);
    return exchange !== undefined && exchange.request.complete && !exchange.response.writableFinished;
  };

  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = acceptedSocket(request.socket);
    if (!socket || !all.has(socket)) return;
    silent.delete(socket);
    exchanges.set(socket, { request, response });
    response.once('close', () => {
      if (exchanges.get(socket)?.response === response) exchanges.delete(socket);
    });
  });

  server.on('connection', (socket: Socket) => {
    const address = clientAddress(socket);
    if (address === undefined) {
      socket.destroy();
      return;
    }
    const own = byAddress.get(address) ?? 0;
    if (own >= limits().maxPerAddress) return refuse(socket, `${address} holds ${own} connections (Limits.MaxConnectionsPerAddress)`);
    if (all.size >= allowed()) {
      let oldest: Socket | undefined;
      for (const candidate of all.keys()) {
        if (!beingAnswered(candidate)) {
          oldest = candidate;
          break;
        }
      }
      if (!oldest) return refuse(socket, `${all.size} connections open, all being answered (Limits.MaxConnections)`);
      evicted++;
      oldest.destroy();
      // 'close' comes later; the count must drop now or the newcomer overshoots the cap.
      forget(oldest);
    }
    all.set(socket, address);
    byAddress.set(address, own + 1);
    silent.set(socket, Date.now());
    socket.once('close', () => {
      silent.delete(socket);
      forget(socket);
    });
  });

  return { stats: () => ({ open: all.size, addresses: byAddress.size, allowed: allowed(), refused, evicted }) };
}

/** The accepted TCP socket of a request (over TLS, the socket the TLS layer wraps). */
function acceptedSocket(socket: Socket): Socket | undefined {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket;
}

function clientAddress(socket: Socket): string | undefined {
  const address = socket.remoteAddress;
  // One client reached over IPv4 and IPv4-mapped IPv6 is the same client.
  return address?.startsWith('::ffff:') ? address.slice(7) : address;
}

/** How many connections the open-file limit leaves room for; undefined where it cannot be read. */
export function descriptorBudget(limitsFile = '/proc/self/limits'): number | undefined {
  const soft = openFileLimit(limitsFile);
  if (soft === undefined) return undefined;
  return Math.max(1, soft - Math.max(MIN_RESERVED, Math.ceil(soft * RESERVED_FRACTION)));
}

function openFileLimit(limitsFile: string): number | undefined {
  try {
    const line = readFileSync(limitsFile, 'utf8').split('\n').find((text) => text.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}
