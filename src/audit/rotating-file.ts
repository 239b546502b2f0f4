import { appendFile, rename, stat, unlink } from 'node:fs/promises';

export interface RotationLimits {
  /** Largest size of one file; the next line that does not fit starts a new file. */
  maxBytes: () => number;
  /** Files kept, the current one included: `<file>`, `<file>.1` (newest history) … `<file>.<files-1>`. */
  files: () => number;
}

/**
 * An append-only file of lines (mode 0600) rotated by size into a bounded history. Lines are
 * written in order, in batches (a burst costs one write, not one per line), and never split
 * across files.
 */
export class RotatingFile {
  private pending: string[] = [];
  private size: number | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly limits: RotationLimits,
    private readonly onError: (error: Error) => void,
  ) {}

  write(line: string): void {
    this.pending.push(line);
    if (this.pending.length === 1) this.queue = this.queue.then(() => this.drain()).catch((error: Error) => this.onError(error));
  }

  /** Resolves when every line written so far is on disk. */
  flush(): Promise<void> {
    return this.queue;
  }

  private async drain(): Promise<void> {
    const lines = this.pending;
    this.pending = [];
    this.size ??= await stat(this.file).then((info) => info.size, () => 0);
    const maxBytes = Math.max(1, this.limits.maxBytes());
    let batch = '';
    let batchBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (this.size + batchBytes + bytes > maxBytes && this.size + batchBytes > 0) {
        await this.append(batch, batchBytes);
        await this.rotate();
        batch = '';
        batchBytes = 0;
      }
      batch += line;
      batchBytes += bytes;
    }
    await this.append(batch, batchBytes);
  }

  private async append(text: string, bytes: number): Promise<void> {
    if (bytes === 0) return;
    await appendFile(this.file, text, { mode: 0o600 });
    this.size = (this.size ?? 0) + bytes;
  }

  /** `<file>.<n-1>` goes, every other one moves up a place, the current file becomes `.1`. */
  private async rotate(): Promise<void> {
    const keep = Math.max(0, Math.floor(this.limits.files()) - 1);
    const name = (index: number) => (index === 0 ? this.file : `${this.file}.${index}`);
    // Also whatever a larger setting left behind.
    for (let index = keep; await exists(name(index)); index++) if (index > 0) await unlink(name(index));
    for (let index = keep - 1; index >= 0; index--) await rename(name(index), name(index + 1)).catch(ignoreMissing);
    if (keep === 0) await unlink(this.file).catch(ignoreMissing);
    this.size = 0;
  }
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}
