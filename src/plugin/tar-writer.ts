import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGzip, type Gzip } from 'node:zlib';

const BLOCK = 512;

export interface TarEntry {
  path: string;
  data: Buffer;
  mode: number;
  mtimeMs: number;
}

/**
 * A gzip-compressed tar archive (POSIX ustar, with PAX records for long names) written to a file
 * entry by entry, never held whole in memory: what `tar -xz` on any node unpacks.
 */
export class TarGzWriter {
  private readonly gzip: Gzip = createGzip({ level: 6 });
  private readonly written: Promise<void>;

  constructor(private readonly file: string) {
    const out: WriteStream = createWriteStream(file, { mode: 0o600 });
    this.written = pipeline(this.gzip, out);
    // Reported by finish(); never an unhandled rejection meanwhile.
    this.written.catch(() => undefined);
  }

  async add(entry: TarEntry): Promise<void> {
    const name = Buffer.from(entry.path, 'utf8');
    if (name.length > 100) {
      const record = paxRecord('path', entry.path);
      await this.write(header({ name: Buffer.from('././@PaxHeader'), size: record.length, mode: 0o644, mtimeMs: entry.mtimeMs, type: 'x' }));
      await this.write(padded(record));
    }
    await this.write(header({ name: name.subarray(0, 100), size: entry.data.length, mode: entry.mode, mtimeMs: entry.mtimeMs, type: '0' }));
    await this.write(padded(entry.data));
  }

  /** Ends the archive (two zero blocks); answers its size in bytes once it is on disk. */
  async finish(): Promise<number> {
    this.gzip.end(Buffer.alloc(BLOCK * 2));
    await this.written;
    return (await stat(this.file)).size;
  }

  private async write(data: Buffer): Promise<void> {
    // Waits for the file to keep up: a large first sync stays small in memory.
    if (!this.gzip.write(data)) await once(this.gzip, 'drain');
  }
}

function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  // The length prefix counts its own digits.
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return Buffer.from(`${length}${body}`, 'utf8');
}

function padded(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

function header(fields: { name: Buffer; size: number; mode: number; mtimeMs: number; type: string }): Buffer {
  const block = Buffer.alloc(BLOCK);
  fields.name.copy(block, 0);
  octal(block, 100, 8, fields.mode & 0o7777);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, fields.size);
  octal(block, 136, 12, Math.floor(fields.mtimeMs / 1000));
  block.fill(' ', 148, 156);
  block.write(fields.type, 156, 'ascii');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  octal(block, 148, 7, sum);
  return block;
}

function octal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'ascii');
}
