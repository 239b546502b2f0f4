import { close, closeSync, ftruncate, write } from 'node:fs';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import type { OutputTarget } from '../process/process-run.js';
import type { Pipe } from './pipe-source.js';

const writeAt = promisify(write);
const truncate = promisify(ftruncate);
const closeFd = promisify(close);

/**
 * A run's output file, written by the daemon from the run's pipe. It never holds more than
 * `maxBytes()`: a write that would pass the cap starts the file over, so it keeps the newest
 * output. The pipe is not read while a write is pending, so a fast writer waits for the disk
 * instead of filling the daemon's memory.
 */
export class CappedOutputFile implements OutputTarget {
  private position = 0;
  private reader?: Socket;
  private state: 'new' | 'copying' | 'closed' = 'new';

  constructor(
    private readonly fileFd: number,
    private readonly pipe: Pipe,
    private readonly maxBytes: () => number,
  ) {}

  get fd(): number {
    return this.pipe.writeFd;
  }

  async copy(): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'copying';
    // The process holds its own copy of the write end: end-of-file comes when its tree closed it.
    closeSync(this.pipe.writeFd);
    const reader = new Socket({ fd: this.pipe.readFd, readable: true, writable: false });
    this.reader = reader;
    try {
      // Async iteration reads the next chunk only once the previous one is written.
      for await (const chunk of reader) await this.append(chunk as Buffer);
    } catch {
      // Cut: a process outside the tree held the pipe open. The output ends here.
    } finally {
      reader.destroy();
      this.state = 'closed';
      await closeFd(this.fileFd).catch(() => undefined);
    }
  }

  cut(): void {
    this.reader?.destroy();
  }

  discard(): void {
    if (this.state !== 'new') return;
    this.state = 'closed';
    for (const fd of [this.pipe.readFd, this.pipe.writeFd, this.fileFd]) close(fd, () => undefined);
  }

  private async append(chunk: Buffer): Promise<void> {
    const cap = Math.max(1, this.maxBytes());
    let data = chunk;
    if (this.position + data.length > cap) {
      await truncate(this.fileFd, 0);
      this.position = 0;
      if (data.length > cap) data = data.subarray(data.length - cap);
    }
    for (let offset = 0; offset < data.length; ) {
      const { bytesWritten } = await writeAt(this.fileFd, data, offset, data.length - offset, this.position);
      offset += bytesWritten;
      this.position += bytesWritten;
    }
  }
}
