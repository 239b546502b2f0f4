import type { Socket } from 'node:net';

export interface CapLimits {
  maxConnections: number;
  maxPerAddress: number;
}

/** Limits.MaxConnections and MaxConnectionsPerAddress for a persistent transport: a connection over a cap is closed at once. */
export class ConnectionCaps {
  private readonly sockets = new Set<Socket>();
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly limits: () => CapLimits) {}

  get open(): number {
    return this.sockets.size;
  }

  admit(socket: Socket, address: string): boolean {
    const { maxConnections, maxPerAddress } = this.limits();
    const fromAddress = this.byAddress.get(address) ?? 0;
    if (this.sockets.size >= maxConnections || fromAddress >= maxPerAddress) {
      socket.destroy();
      return false;
    }
    this.sockets.add(socket);
    this.byAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.byAddress.set(address, left);
      else this.byAddress.delete(address);
    });
    return true;
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
