import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';

export interface ConnectionLimits {
  /** Open connections in total. */
  maxConnections: number;
  /** Open connections from one client address. */
  maxPerAddress: number;
  /** A connection that has sent nothing for this long is closed (node times headers only from their first byte). */
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
 * cap a newcomer from a lightly loaded address takes the place of the oldest connection of the
 * most loaded one, so a flood spread over many addresses still leaves room for everybody else;
 * when all addresses are about even the newcomer is refused. The total is also kept below the
 * process's open-file limit: running out of descriptors would stop logins, runs and file I/O too.
 */
export function guardConnections(server: Server, limits: () => ConnectionLimits, warn: (message: string) => void): ConnectionGuard {
  const byAddress = new Map<string, Set<Socket>>();
  let open = 0;
  let refused = 0;
  let evicted = 0;
  const descriptorCap = descriptorBudget();
  let warnedAbout = 0;
  let lastRefusalWarningMs = 0;
  /** Connections that have not sent a byte yet, with the time they opened. */
  const silent = new Map<Socket, number>();
  const sweeper = setInterval(() => {
    const cutoff = Date.now() - limits().silentSeconds * 1000;
    for (const [socket, openedAtMs] of silent) {
      if (socket.bytesRead > 0 || socket.destroyed) silent.delete(socket);
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

  const forget = (address: string, socket: Socket): void => {
    const sockets = byAddress.get(address);
    if (!sockets?.delete(socket)) return;
    open--;
    if (sockets.size === 0) byAddress.delete(address);
  };

  server.on('connection', (socket: Socket) => {
    const address = clientAddress(socket);
    if (address === undefined) {
      socket.destroy();
      return;
    }
    const own = byAddress.get(address);
    const { maxPerAddress } = limits();
    if (own && own.size >= maxPerAddress) return refuse(socket, `${address} holds ${own.size} connections (Limits.MaxConnectionsPerAddress)`);
    if (open >= allowed()) {
      const heaviest = mostLoaded(byAddress);
      if (!heaviest || heaviest.size <= (own?.size ?? 0) + 1) return refuse(socket, `${open} connections open (Limits.MaxConnections)`);
      const oldest = heaviest.values().next().value;
      if (oldest) {
        evicted++;
        oldest.destroy();
        // 'close' comes later; the count must drop now or the newcomer overshoots the cap.
        forget(clientAddress(oldest) ?? '', oldest);
      }
    }
    let sockets = byAddress.get(address);
    if (!sockets) byAddress.set(address, (sockets = new Set()));
    sockets.add(socket);
    open++;
    silent.set(socket, Date.now());
    socket.once('close', () => {
      silent.delete(socket);
      forget(address, socket);
    });
  });

  return { stats: () => ({ open, addresses: byAddress.size, allowed: allowed(), refused, evicted }) };
}

function clientAddress(socket: Socket): string | undefined {
  const address = socket.remoteAddress;
  // One client reached over IPv4 and IPv4-mapped IPv6 is the same client.
  return address?.startsWith('::ffff:') ? address.slice(7) : address;
}

function mostLoaded(byAddress: Map<string, Set<Socket>>): Set<Socket> | undefined {
  let heaviest: Set<Socket> | undefined;
  for (const sockets of byAddress.values()) if (!heaviest || sockets.size > heaviest.size) heaviest = sockets;
  return heaviest;
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
