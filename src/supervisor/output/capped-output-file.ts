import { close, closeSync, constants, openSync, readSync } from 'node:fs';
import { Socket } from 'node:net';
import type { OutputTarget } from '../process/process-run.js';
import { append } from './copy-worker.js';
import { outputCopier, type Copy } from './output-copier.js';
import type { Pipe } from './pipe-source.js';

/**
 * Output up to this size is copied on the event loop (a few small writes cost less than a thread);
 * past it, the rest of the run's output is copied by the output copier's worker thread.
 */
export const HAND_OVER_BYTES = 1024 * 1024;

/**
 * What is read at once, without a reader, when the copy starts: a quick command has often ended
 * by then (its exit comes with its start), and its whole output waits in the pipe.
 */
const READ_AT_ONCE_BYTES = 256 * 1024;
/**
 * A pipe whose writer is still there is read again when the process exits, or after this long,
 * before a reader is made: a short command's exit usually comes a moment after its start.
 */
const READER_AFTER_MS = 5;
const atOnce = Buffer.allocUnsafe(64 * 1024);

/**
 * A run's output file, written from the run's pipe. It never holds more than `maxBytes()` (read
 * when the copy starts): a write that would pass the cap starts the file over, so it keeps the
 * newest output. The pipe is not read while a write is pending, so a fast writer waits for the
 * disk instead of filling the daemon's memory.
 *
 * The first HAND_OVER_BYTES are copied here; a run that writes more is handed to the output
 * copier (a worker thread), so a large output never holds the event loop. The hand-over reopens
 * the pipe for the copier and closes this side's reader in the same turn of the loop, after
 * writing what the reader held: nothing is lost or reordered.
 */
export class CappedOutputFile implements OutputTarget {
  private reader?: Socket;
  private handedOver?: Copy;
  private state: 'new' | 'copying' | 'closed' = 'new';
  private copierStarting = false;
  /** Cut while the copy waited to make its reader. */
  private cutBeforeReader = false;
  /** The copy is over and wrote nothing: the file is known to be empty without reading it. */
  endedEmpty = false;

  constructor(
    private readonly fileFd: number,
    private readonly pipe: Pipe,
    private readonly maxBytes: () => number,
    private readonly warn: (message: string) => void = (message) => process.emitWarning(message),
  ) {}

  get fd(): number {
    return this.pipe.writeFd;
  }

  /** True while the pipe waits for the copier thread to start (the writer may be gone already). */
  get waitingOnDaemon(): boolean {
    return this.copierStarting;
  }

  async copy(leaderExited?: Promise<unknown>): Promise<void> {
    if (this.state !== 'new') return;
    this.state = 'copying';
    // The process holds its own copy of the write end: end-of-file comes when its tree closed it.
    closeSync(this.pipe.writeFd);
    const maxBytes = Math.max(1, this.maxBytes());
    let position = 0;
    let copied = 0;
    let handOverAt = HAND_OVER_BYTES;
    const write = (chunk: Buffer) => {
      position = append(this.fileFd, chunk, position, maxBytes);
      copied += chunk.length;
    };
    if (leaderExited) {
      // Not read before: a pipe with a writer and nothing to read answers with an error, which costs more than the wait.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([leaderExited, new Promise((resolve) => (timer = setTimeout(resolve, READER_AFTER_MS)))]).catch(() => undefined);
      clearTimeout(timer);
    }
    // Cut meanwhile: nothing more is read.
    const atOnce = this.cutBeforeReader ? 'open' : this.readAtOnce(write);
    if (atOnce !== 'open' || this.cutBeforeReader) {
      // Every writer is gone and the pipe is empty (or the disk refused, or the copy was cut): no reader needed.
      this.state = 'closed';
      this.endedEmpty = atOnce === 'end' && copied === 0;
      for (const fd of [this.pipe.readFd, this.fileFd]) {
        try {
          closeSync(fd);
        } catch {
          // Closed already.
        }
      }
      return;
    }
    const reader = new Socket({ fd: this.pipe.readFd, readable: true, writable: false });
    this.reader = reader;
    try {
      await new Promise<void>((resolve) => {
        const done = () => {
          reader.removeAllListeners('data');
          resolve();
        };
        reader.on('data', (chunk: Buffer) => {
          try {
            write(chunk);
            if (copied >= handOverAt) {
              // Asked again a MiB later if the copier cannot take it.
              handOverAt = copied + HAND_OVER_BYTES;
              if (outputCopier.ready) {
                this.handOver(reader, write, maxBytes, () => position);
              } else {
                // The pipe waits (and its writer with it) while the copier starts: copying here
                // meanwhile would hold the event loop, and fill the heap, for a large output.
                reader.pause();
                this.copierStarting = true;
                void outputCopier.started(this.warn).then((running) => {
                  this.copierStarting = false;
                  if (reader.destroyed) return;
                  try {
                    if (running) this.handOver(reader, write, maxBytes, () => position);
                  } catch {
                    // The disk refused (full, quota): the output ends here, like a cut.
                    reader.destroy();
                    return;
                  }
                  if (this.handedOver) done();
                  else reader.resume();
                });
              }
            }
          } catch {
            // The disk refused (full, quota): the output ends here, like a cut.
            reader.destroy();
          }
          if (this.handedOver) done();
        });
        // End-of-file is the end of the copy: closing the reader's handle is not waited for.
        reader.once('end', done);
        reader.once('close', done);
        reader.once('error', done);
      });
      await this.handedOver?.done;
    } finally {
      reader.destroy();
      this.state = 'closed';
      // After a hand-over the copier closes the file. Closing a file costs less than a thread-pool round trip.
      if (!this.handedOver) {
        try {
          closeSync(this.fileFd);
        } catch {
          // Closed already.
        }
      }
    }
  }

  /**
   * Reads what the pipe holds now (up to READ_AT_ONCE_BYTES): 'end' when every writer is gone and
   * all was read, 'open' when a writer may still write (or more is waiting), 'failed' when the disk
   * refused (the output ends there, like a cut).
   */
  private readAtOnce(write: (chunk: Buffer) => void): 'end' | 'open' | 'failed' {
    for (let total = 0; total < READ_AT_ONCE_BYTES; ) {
      let length: number;
      try {
        length = readSync(this.pipe.readFd, atOnce, 0, atOnce.length, null);
      } catch {
        return 'open'; // EAGAIN: a writer is alive and has nothing more for now.
      }
      if (length === 0) return 'end';
      try {
        write(atOnce.subarray(0, length));
      } catch {
        return 'failed';
      }
      total += length;
    }
    return 'open';
  }

  /** Gives the rest of the output to the copier: a second reader of the same pipe, this one closed. */
  private handOver(reader: Socket, write: (chunk: Buffer) => void, maxBytes: number, position: () => number): void {
    let pipe: number;
    try {
      // The same pipe, opened anew: closing this side's reader leaves it open for the copier.
      pipe = openSync(`/proc/self/fd/${this.pipe.readFd}`, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch {
      return; // No /proc: copied here to the end.
    }
    // What the reader took from the pipe already is written first, here only: read() would also
    // hand each chunk to the 'data' listener.
    reader.removeAllListeners('data');
    reader.pause();
    try {
      for (let chunk = reader.read() as Buffer | null; chunk !== null; chunk = reader.read() as Buffer | null) write(chunk);
    } catch (error) {
      close(pipe, () => undefined);
      throw error;
    }
    reader.destroy();
    this.handedOver = outputCopier.copy(pipe, this.fileFd, maxBytes, position());
  }

  /** Cut: a process outside the tree holds the pipe open. The output ends here. */
  cut(): void {
    this.cutBeforeReader = this.reader === undefined;
    this.reader?.destroy();
    this.handedOver?.cut();
  }

  discard(): void {
    if (this.state !== 'new') return;
    this.state = 'closed';
    for (const fd of [this.pipe.readFd, this.pipe.writeFd, this.fileFd]) close(fd, () => undefined);
  }
}
