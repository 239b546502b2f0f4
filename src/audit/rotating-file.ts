import { close, fstat, open, write } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { promisify } from 'node:util';

// The callback forms: one thread-pool round trip each, without the promise API's file handles.
const openFile = promisify(open);
const closeFile = promisify(close);
const statFd = promisify(fstat);
const writeAt = promisify(write);

/** An open file nobody wrote to for this long is closed (a file moved away by hand is then reopened under its name). */
const IDLE_CLOSE_MS = 2000;

export interface RotationLimits {
  /** Largest size of one file; the next line that does not fit starts a new file. */
  maxBytes: () => number;
  /** Files kept, the current one included: `<file>`, `<file>.1` (newest history) … `<file>.<files-1>`. */
  files: () => number;
  /**
   * Lines are gathered this long before a batch is written (0: written at the next turn). Each
   * batch wakes a thread of the pool, which costs a busy daemon more than the write itself.
   */
  batchMs?: number;
}

/**
 * An append-only file of lines (mode 0600) rotated by size into a bounded history. Lines are
 * written in order, in batches (a burst costs one write, not one per line), and never split
 * across files. The file stays open while lines keep coming (a batch costs one write, not an
 * open, a write and a close), is reopened after each rotation, and closed once idle.
 */
export class RotatingFile {
  private pending: string[] = [];
  private size: number | undefined;
  private fd: number | undefined;
  private queue: Promise<void> = Promise.resolve();
  private idleTimer?: NodeJS.Timeout;
  /** A drain is queued that has not taken the pending lines yet. */
  private draining = false;
  private closed = false;
  private batchTimer?: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly limits: RotationLimits,
    private readonly onError: (error: Error) => void,
  ) {}

  write(line: string): void {
    this.pending.push(line);
    if (this.pending.length > 1) return;
    // Lines written while a batch is gathered or on its way go together in the next one.
    const batchMs = this.limits.batchMs ?? 0;
    if (batchMs > 0 && !this.closed) {
      this.batchTimer ??= setTimeout(() => {
        this.batchTimer = undefined;
        this.startDrain();
      }, batchMs).unref();
    } else {
      this.startDrain();
    }
  }

  /** Resolves when every line written so far is on disk. */
  flush(): Promise<void> {
    this.startDrain();
    return this.queue;
  }

  /** Writes what is pending and closes the file; a line written later opens it again. */
  async close(): Promise<void> {
    this.closed = true;
    this.startDrain();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.enqueue(() => this.release());
    await this.queue;
  }

  /** The lines written so far go into the queue of writes. */
  private startDrain(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.pending.length > 0 && !this.draining) {
      this.draining = true;
      this.enqueue(() => this.drain());
    }
  }

  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue.then(step).catch((error: Error) => {
      this.onError(error);
      // The next batch opens the file anew (it may have been removed or its disk replaced).
      return this.release().catch(() => undefined);
    });
  }

  private async drain(): Promise<void> {
    const lines = this.pending;
    this.pending = [];
    this.draining = false;
    const maxBytes = Math.max(1, this.limits.maxBytes());
    let size = await this.currentSize();
    let batch = '';
    let batchBytes = 0;
    for (const line of lines) {
      const bytes = Buffer.byteLength(line);
      if (size + batchBytes + bytes > maxBytes && size + batchBytes > 0) {
        await this.append(batch);
        await this.rotate();
        size = 0;
        batch = '';
        batchBytes = 0;
      }
      batch += line;
      batchBytes += bytes;
    }
    await this.append(batch);
    this.armIdleClose();
  }

  /** The size of the current file, read when it is opened. */
  private async currentSize(): Promise<number> {
    if (this.size === undefined) await this.openCurrent();
    return this.size ?? 0;
  }

  private async openCurrent(): Promise<number> {
    if (this.fd === undefined) {
      const fd = await openFile(this.file, 'a', 0o600);
      try {
        this.size = (await statFd(fd)).size;
      } catch (error) {
        await closeFile(fd).catch(() => undefined);
        throw error;
      }
      this.fd = fd;
    }
    return this.fd;
  }

  private async append(text: string): Promise<void> {
    if (text === '') return;
    const fd = await this.openCurrent();
    const data = Buffer.from(text);
    // A write may take part of the data (a full disk, a signal): the rest follows, in order.
    for (let offset = 0; offset < data.length; ) {
      const { bytesWritten } = await writeAt(fd, data, offset, data.length - offset);
      offset += bytesWritten;
    }
    this.size = (this.size ?? 0) + data.length;
  }

  private async release(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    this.size = undefined;
    if (fd !== undefined) await closeFile(fd);
  }

  private armIdleClose(): void {
    if (this.closed) {
      this.enqueue(() => this.release());
      return;
    }
    if (this.idleTimer) {
      this.idleTimer.refresh();
      return;
    }
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      // Queued behind any batch still being written.
      if (this.fd !== undefined) this.enqueue(() => this.release());
    }, IDLE_CLOSE_MS).unref();
  }

  /** `<file>.<n-1>` goes, every other one moves up a place, the current file becomes `.1`. */
  private async rotate(): Promise<void> {
    // Written lines stay in the file being moved; the next line opens the new current file.
    await this.release();
    const keep = Math.max(0, Math.floor(this.limits.files()) - 1);
    const name = (index: number) => (index === 0 ? this.file : `${this.file}.${index}`);
    // Also whatever a larger setting left behind.
    for (let index = keep; await exists(name(index)); index++) if (index > 0) await unlink(name(index));
    for (let index = keep - 1; index >= 0; index--) await rename(name(index), name(index + 1)).catch(ignoreMissing);
    if (keep === 0) await unlink(this.file).catch(ignoreMissing);
    // Known empty: the next line opens a new file.
    this.size = 0;
  }
}

function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== 'ENOENT') throw error;
}
