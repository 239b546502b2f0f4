/**
 * The TCP transport's framings. Current clients put an 8-byte header before each message
 * (big-endian magic 0x07C707F8, then the length); the published npm client 1.2.0 puts only a
 * 4-byte length. A connection's first frame tells which one it speaks: its first 4 bytes are the
 * magic, or a length (which can never equal the magic, as that is far above any frame bound).
 */
export const FRAME_MAGIC = 0x07c707f8;

export type Framing = 'magic' | 'length';

export class FrameError extends Error {}

export interface FrameReaderOptions {
  maxFrameBytes: number;
}

/** Cuts a byte stream into frames; throws FrameError on a wrong magic or an oversized frame. */
export class FrameReader {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** Bytes the frame being received needs in all: until they are here, chunks are only collected (no copy per chunk). */
  private awaiting = 0;
  framing: Framing | undefined;

  constructor(private readonly options: FrameReaderOptions) {}

  /** The frames completed by `chunk` (a zero-length frame is an empty buffer: end of a file transfer). */
  push(chunk: Buffer): Buffer[] {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes < this.awaiting) return [];
    this.awaiting = 0;
    const frames: Buffer[] = [];
    let data = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
    let offset = 0;
    for (;;) {
      const available = data.length - offset;
      if (available < 4) break;
      const first = data.readUInt32BE(offset);
      this.framing ??= first === FRAME_MAGIC ? 'magic' : 'length';
      const headerBytes = this.framing === 'magic' ? 8 : 4;
      if (this.framing === 'magic' && first !== FRAME_MAGIC) throw new FrameError(`bad frame magic 0x${first.toString(16).padStart(8, '0')}`);
      if (available < headerBytes) break;
      const length = this.framing === 'magic' ? data.readUInt32BE(offset + 4) : first;
      if (length > this.options.maxFrameBytes) throw new FrameError(`frame of ${length} bytes is above the bound of ${this.options.maxFrameBytes}`);
      if (available < headerBytes + length) {
        this.awaiting = headerBytes + length;
        break;
      }
      frames.push(data.subarray(offset + headerBytes, offset + headerBytes + length));
      offset += headerBytes + length;
    }
    data = data.subarray(offset);
    this.buffered = data.length ? [data] : [];
    this.bufferedBytes = data.length;
    return frames;
  }

  /** Bytes of an unfinished frame (a connection closed with some is truncated). */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }
}

/** A message in the connection's framing. */
export function frame(framing: Framing, body: Uint8Array): Buffer {
  if (framing === 'length') {
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length, 0);
    return Buffer.concat([header, body]);
  }
  const header = Buffer.alloc(8);
  header.writeUInt32BE(FRAME_MAGIC, 0);
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}
