import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Room for what wraps a payload in a PUBLISH: fixed header, topic (at most 65535 bytes and its
 * length), packet id. A packet larger than the payload limit plus this is refused.
 */
export const PACKET_ENVELOPE_BYTES = 65_535 + 2 + 2 + 5;

/**
 * Reads MQTT fixed headers as bytes arrive and says when a packet announces more than the limit,
 * before its body is read: the broker's parser would otherwise buffer the whole packet first.
 */
export class PacketSizeReader {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly maxPacketBytes: () => number) {}

  /** The announced size of the first packet over the limit in `chunk`, or undefined. */
  read(chunk: Buffer): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const skipped = Math.min(this.remaining, chunk.length - i);
        this.remaining -= skipped;
        i += skipped;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++];
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        // The remaining length takes at most 4 bytes; a 5th means a malformed stream.
        if (this.lengthBytes === 4) return Number.MAX_SAFE_INTEGER;
        continue;
      }
      if (this.length > this.maxPacketBytes()) return this.length;
      this.remaining = this.length;
      this.state = this.remaining > 0 ? 'body' : 'type';
    }
    return undefined;
  }
}

/**
 * The socket as the broker sees it: bytes pass unchanged, but a packet announcing more than the
 * limit ends the connection at its header (MQTT 3.1.1 has no other way to refuse it).
 */
export class SizeCheckedConnection extends Duplex {
  readonly remoteAddress: string | undefined;
  private readonly reader: PacketSizeReader;
  private unbounded = false;

  constructor(private readonly socket: Socket, maxPacketBytes: () => number, onTooLarge: (announced: number, limit: number) => void) {
    super({ allowHalfOpen: false });
    this.remoteAddress = socket.remoteAddress;
    this.reader = new PacketSizeReader(maxPacketBytes);
    socket.on('data', (chunk: Buffer) => {
      const tooLarge = this.unbounded ? undefined : this.reader.read(chunk);
      if (tooLarge !== undefined) {
        onTooLarge(tooLarge, maxPacketBytes());
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.on('end', () => this.push(null));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => this.destroy());
  }

  /** No limit from now on: for a trusted peer (a bridge publishing replies of any size). */
  lift(): void {
    this.unbounded = true;
  }

  setNoDelay(noDelay?: boolean): this {
    this.socket.setNoDelay(noDelay);
    return this;
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.socket.write(chunk, encoding)) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
