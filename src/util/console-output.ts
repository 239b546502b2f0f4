import { write } from 'node:fs';

/** Bytes waiting for a slow reader before further lines are dropped (and counted). */
const MAX_QUEUED_BYTES = 1024 * 1024;
const RETRY_MS = 20;

/**
 * The daemon's stdout or stderr, written so that the daemon never depends on its reader:
 * writes go through the thread pool (a stalled pipe blocks one pool thread, never the event
 * loop), a reader that falls behind loses lines instead of growing memory, and a reader that
 * is gone (EPIPE, EIO after the terminal closed, EBADF) turns the output off for good. It
 * never throws and never emits an error.
 */
export class ConsoleOutput {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private writing = false;
  private dropped = 0;
  private closedBy: string | undefined;
  private readonly idle: Array<() => void> = [];

  constructor(private readonly fd: number) {}

  /** Why the output is off (an error code), or undefined while it works. */
  get closed(): string | undefined {
    return this.closedBy;
  }

  /** Queues the text; false when the output is off (the caller may send it elsewhere). */
  write(text: string): boolean {
    if (this.closedBy) return false;
    const bytes = Buffer.from(text);
    if (this.queuedBytes + bytes.length > MAX_QUEUED_BYTES) {
      this.dropped++;
      return true;
    }
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    this.pump();
    return true;
  }

  /** Resolves when everything queued is written, or after `timeoutMs` (a stalled reader must not hold up an exit). */
  flush(timeoutMs: number): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      this.idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private pump(): void {
    if (this.writing || this.closedBy) return;
    if (this.dropped > 0) {
      const note = Buffer.from(`(${this.dropped} log lines dropped: the reader of this output was too slow)\n`);
      this.dropped = 0;
      this.queue.unshift(note);
      this.queuedBytes += note.length;
    }
    const chunk = this.queue[0];
    if (!chunk) {
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    this.writing = true;
    write(this.fd, chunk, 0, chunk.length, null, (error, written) => {
      this.writing = false;
      if (error) {
        // A non-blocking descriptor that is full: try again shortly, the queue bound still applies.
        if (error.code === 'EAGAIN') {
          setTimeout(() => this.pump(), RETRY_MS).unref();
          return;
        }
        this.close(error.code ?? error.message);
        return;
      }
      if (written < chunk.length) {
        this.queue[0] = chunk.subarray(written);
      } else {
        this.queue.shift();
      }
      this.queuedBytes -= written;
      this.pump();
    });
  }

  private close(reason: string): void {
    this.closedBy = reason;
    this.queue.length = 0;
    this.queuedBytes = 0;
    for (const resolve of this.idle.splice(0)) resolve();
  }
}

let stdout: ConsoleOutput | undefined;
let stderr: ConsoleOutput | undefined;

/** The process's stdout, shared by every writer (one queue keeps lines whole and in order). */
export function consoleStdout(): ConsoleOutput {
  return (stdout ??= new ConsoleOutput(1));
}

export function consoleStderr(): ConsoleOutput {
  return (stderr ??= new ConsoleOutput(2));
}

/** Waits, at most `timeoutMs`, for both outputs to write what they hold (before an exit). */
export async function flushConsole(timeoutMs: number): Promise<void> {
  await Promise.all([stdout?.flush(timeoutMs), stderr?.flush(timeoutMs)]);
}

/**
 * Node's own stdout/stderr streams (used by libraries and `console`) emit 'error' when their
 * reader is gone; unhandled, that error becomes an uncaught exception. Swallow it: the daemon's
 * lines go through ConsoleOutput, which notices the same condition on its own.
 */
export function ignoreStdioStreamErrors(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.listeners('error').includes(ignore)) stream.on('error', ignore);
  }
}

function ignore(): void {
  // Intentionally empty: see ignoreStdioStreamErrors.
}
