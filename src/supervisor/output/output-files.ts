import { closeSync, constants, existsSync, ftruncateSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export interface OutputChunk {
  data: Buffer;
  /** Byte offset just after the returned data. */
  nextPosition: number;
  /** Size of the file when it was read. */
  size: number;
}

/**
 * The output files of one application: index 0 is the current (or last) run, 1..N the runs
 * before it. Processes write straight into the file through an inherited descriptor, so the
 * daemon never holds a run's output in memory and stdout/stderr keep their relative order.
 */
export class OutputFiles {
  constructor(private readonly dir: string, private readonly appName: string) {}

  path(index = 0): string {
    const base = join(this.dir, `appmesh.${this.appName}.out`);
    return index === 0 ? base : `${base}.${index}`;
  }

  /** Shifts the current file into history (keeping `keep` previous runs) and opens a new one. */
  openForNewRun(keep: number): number {
    if (existsSync(this.path(0))) {
      if (keep > 0) {
        for (let index = keep; index >= 1; index--) {
          if (existsSync(this.path(index))) {
            if (index === keep) unlinkSync(this.path(index));
            else renameSync(this.path(index), this.path(index + 1));
          }
        }
        renameSync(this.path(0), this.path(1));
      }
    }
    this.pruneHistory(keep);
    // O_APPEND so that truncation by the size guard restarts writes at offset 0.
    return openSync(this.path(0), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND, 0o600);
  }

  /** Number of files currently kept (current + history). */
  count(): number {
    let count = existsSync(this.path(0)) ? 1 : 0;
    for (let index = 1; existsSync(this.path(index)); index++) count++;
    return count;
  }

  size(index = 0): number | undefined {
    try {
      return statSync(this.path(index)).size;
    } catch {
      return undefined;
    }
  }

  /** Reads `[position, position + maxSize)`; undefined when the file is missing or too short. */
  async read(index: number, position: number, maxSize: number): Promise<OutputChunk | undefined> {
    let handle;
    try {
      handle = await open(this.path(index), 'r');
    } catch {
      return undefined;
    }
    try {
      const { size } = await handle.stat();
      if (position > size) return undefined;
      const length = Math.min(maxSize, size - position);
      const data = Buffer.alloc(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(data, filled, length - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return { data: data.subarray(0, filled), nextPosition: position + filled, size };
    } finally {
      await handle.close();
    }
  }

  /** Size guard: a runaway writer cannot fill the disk. */
  truncateIfLarger(limit: number): boolean {
    const size = this.size(0);
    if (size === undefined || size <= limit) return false;
    const fd = openSync(this.path(0), 'r+');
    try {
      ftruncateSync(fd, 0);
    } finally {
      closeSync(fd);
    }
    return true;
  }

  removeAll(): void {
    for (let index = 0; existsSync(this.path(index)) || index === 0; index++) {
      try {
        unlinkSync(this.path(index));
      } catch {
        if (index > 0) break;
      }
    }
  }

  private pruneHistory(keep: number): void {
    for (let index = keep + 1; existsSync(this.path(index)); index++) unlinkSync(this.path(index));
  }
}
