import { close, closeSync } from 'node:fs';
import type { OutputTarget } from '../process/process-run.js';
import { outputCopier, type Copy } from './output-copier.js';
import type { Pipe } from './pipe-source.js';

/**
 * A run's output file, written from the run's pipe by the output copier (a worker thread), so
 * a fast writer never holds the daemon's event loop. It never holds more than `maxBytes()` (read
 * when the copy starts): a write that would pass the cap starts the file over, so it keeps the
 * newest output. The pipe is not read while a write is pending, so a fast writer waits for the
 * disk instead of filling the daemon's memory.
 */
export class CappedOutputFile implements OutputTarget {
  private copying?: Copy;
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
    // The copier owns both descriptors from here and closes them when the copy ends.
    this.copying = outputCopier.copy(this.pipe.readFd, this.fileFd, this.maxBytes());
    try {
      await this.copying.done;
    } finally {
      this.state = 'closed';
    }
  }

  /** Cut: a process outside the tree holds the pipe open. The output ends here. */
  cut(): void {
    this.copying?.cut();
  }

  discard(): void {
    if (this.state !== 'new') return;
    this.state = 'closed';
    for (const fd of [this.pipe.readFd, this.pipe.writeFd, this.fileFd]) close(fd, () => undefined);
  }
}
