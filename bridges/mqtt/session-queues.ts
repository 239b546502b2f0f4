import type { Readable } from 'node:stream';

export interface QueueLimits {
  count: number;
  bytes: number;
}

interface QueuedPacket {
  payload?: Buffer | string;
}

/** The part of aedes' persistence that holds the QoS 1/2 messages of each client's session. */
export interface SessionPersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: QueuedPacket): Promise<void>;
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: QueuedPacket): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: QueuedPacket): Promise<QueuedPacket | undefined>;
  outgoingStream(client: { id: string }): Readable;
  cleanSubscriptions(client: { id: string }): Promise<void>;
}

/**
 * Bounds the messages aedes holds for one client (sent and not yet acknowledged, or waiting while
 * a kept session is offline). Above the bound a message is not queued for that client: an online
 * client that does not acknowledge is disconnected by aedes, an offline session misses it.
 */
export class SessionQueues {
  private readonly held = new Map<string, { count: number; bytes: number }>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly persistence: SessionPersistence,
    private readonly limits: () => QueueLimits,
    private readonly warn: (message: string) => void,
  ) {
    const enqueue = persistence.outgoingEnqueue.bind(persistence);
    const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
    const clear = persistence.outgoingClearMessageId.bind(persistence);
    persistence.outgoingEnqueue = async (sub, packet) => {
      if (this.book(sub.clientId, packet)) await enqueue(sub, packet);
    };
    persistence.outgoingEnqueueCombi = async (subs, packet) => {
      const admitted = subs.filter((sub) => this.book(sub.clientId, packet));
      if (admitted.length) await enqueueCombi(admitted, packet);
    };
    persistence.outgoingClearMessageId = async (client, packet) => {
      const cleared = await clear(client, packet);
      if (cleared) this.unbook(client.id, cleared);
      return cleared;
    };
  }

  /** Ends a kept session: its subscriptions and every message queued for it. */
  async endSession(clientId: string): Promise<void> {
    const client = { id: clientId };
    await this.persistence.cleanSubscriptions(client);
    const queued: QueuedPacket[] = [];
    for await (const packet of this.persistence.outgoingStream(client)) queued.push(packet as QueuedPacket);
    for (const packet of queued) await this.persistence.outgoingClearMessageId(client, packet);
    this.held.delete(clientId);
    this.warned.delete(clientId);
  }

  private book(clientId: string, packet: QueuedPacket): boolean {
    const usage = this.held.get(clientId) ?? { count: 0, bytes: 0 };
    const bytes = size(packet);
    const limits = this.limits();
    if (usage.count + 1 > limits.count || usage.bytes + bytes > limits.bytes) {
      if (!this.warned.has(clientId)) {
        this.warned.add(clientId);
        this.warn(`MQTT broker: messages for client ${clientId.slice(0, 64)} are dropped: it holds ${usage.count} (${usage.bytes} bytes) unacknowledged, the limit is MQTT.MaxQueuedPerClient ${limits.count} / MaxQueuedBytesPerClient ${limits.bytes}`);
      }
      return false;
    }
    this.held.set(clientId, { count: usage.count + 1, bytes: usage.bytes + bytes });
    return true;
  }

  private unbook(clientId: string, packet: QueuedPacket): void {
    const usage = this.held.get(clientId);
    if (!usage) return;
    if (usage.count <= 1) {
      this.held.delete(clientId);
      this.warned.delete(clientId);
    } else {
      this.held.set(clientId, { count: usage.count - 1, bytes: Math.max(0, usage.bytes - size(packet)) });
    }
  }
}

function size(packet: QueuedPacket): number {
  const payload = packet.payload;
  return payload === undefined ? 0 : Buffer.isBuffer(payload) ? payload.length : Buffer.byteLength(payload);
}
