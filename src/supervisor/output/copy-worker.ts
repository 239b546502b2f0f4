/**
 * The output copier: a worker thread that copies each run's pipe into its output file, so a
 * fast writer costs the daemon's event loop nothing. Reads come from the pipe as the kernel
 * hands them over (its own event loop, no thread pool round trip per chunk); each chunk is
 * written at once with a plain write, so the file is readable while written and the pipe is not
 * read again before the bytes are in the file (a writer faster than the disk waits, nothing
 * piles up in memory).
 *
 * A fast writer is read in a tight loop into one reused buffer (after a full chunk, until the pipe
 * is empty or a budget is spent), which halves the cost per byte of one event per chunk.
 *
 * The cap: a write that would pass `maxBytes` starts the file over, keeping the newest output;
 * the file never holds more than `maxBytes`.
 *
 * The daemon closes the output file once told the copy is done: a worker that closes a
 * descriptor it did not open is warned about.
 *
 * Self-contained on purpose (node: modules only): it runs from its compiled file, or from its
 * own source text when the daemon runs from its TypeScript sources.
 */
import { ftruncateSync, readSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

export type CopierCommand =
  /** Copy `readFd` into `fileFd` from `position` on, until end-of-file or a cut. */
  | { type: 'copy'; id: number; readFd: number; fileFd: number; maxBytes: number; position: number }
  /** Stop the copy: what the pipe holds now is still written, then the output ends here. */
  | { type: 'cut'; id: number };

/** A copy ended: the pipe is closed (unless `pipeOpen`), the file is the daemon's to close. */
export interface CopierDone {
  type: 'done';
  id: number;
  /** The pipe could not be read at all: the daemon closes it too. */
  pipeOpen?: boolean;
  /** Why the copy ended early, if it did. */
  error?: string;
}

/** Cuts of the copies in flight, by id. */
const cuts = new Map<number, () => void>();
/** At a cut, at most this much is still read from the pipe: a writer outside the tree cannot hold the copy. */
const MAX_DRAIN_AT_CUT = 4 * 1024 * 1024;
/** A read of this size means the pipe was full: its writer is faster than the events. */
const FULL_CHUNK = 64 * 1024;
/** Most bytes one copy reads in a tight loop before the other copies get their turn. */
const DRAIN_BUDGET = 16 * 1024 * 1024;
/** The tight loop's buffer: made by the worker's first drain (the daemon loads this module for `append` only). */
let spareBuffer: Buffer | undefined;

/** Reads what the pipe holds now into `write`, at most `budget` bytes; false at end-of-file. */
function drain(readFd: number, budget: number, write: (data: Buffer) => boolean): boolean {
  const spare = (spareBuffer ??= Buffer.allocUnsafe(1024 * 1024));
  for (let drained = 0; drained < budget; ) {
    let read: number;
    try {
      read = readSync(readFd, spare, 0, spare.length, null);
    } catch {
      return true; // EAGAIN: the pipe is empty.
    }
    if (read === 0) return false;
    if (!write(spare.subarray(0, read))) return false;
    drained += read;
  }
  return true;
}

/** Writes `chunk` at `position`, starting the file over when it would pass `maxBytes`; the new position. */
export function append(fileFd: number, chunk: Buffer, position: number, maxBytes: number): number {
  let data = chunk;
  if (position + data.length > maxBytes) {
    ftruncateSync(fileFd, 0);
    position = 0;
    if (data.length > maxBytes) data = data.subarray(data.length - maxBytes);
  }
  for (let offset = 0; offset < data.length; ) {
    const written = writeSync(fileFd, data, offset, data.length - offset, position);
    offset += written;
    position += written;
  }
  return position;
}

function copy(command: Extract<CopierCommand, { type: 'copy' }>): void {
  const { id, fileFd } = command;
  const maxBytes = Math.max(1, command.maxBytes);
  let position = command.position;
  let error: string | undefined;
  let reader: Socket;
  try {
    reader = new Socket({ fd: command.readFd, readable: true, writable: false });
  } catch (failure) {
    parentPort?.postMessage({ type: 'done', id, pipeOpen: true, error: (failure as Error).message } satisfies CopierDone);
    return;
  }
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    cuts.delete(id);
    reader.destroy();
    parentPort?.postMessage({ type: 'done', id, ...(error ? { error } : {}) } satisfies CopierDone);
  };
  const write = (chunk: Buffer): boolean => {
    if (finished) return false;
    try {
      position = append(fileFd, chunk, position, maxBytes);
      return true;
    } catch (failure) {
      // The disk refused (full, quota): the output ends here, like a cut.
      error = (failure as Error).message;
      finish();
      return false;
    }
  };
  cuts.set(id, () => {
    // Bytes written before the cut are output like any other, even if the pipe was not read yet.
    if (!finished) drain(command.readFd, MAX_DRAIN_AT_CUT, write);
    finish();
  });
  reader.on('data', (chunk: Buffer) => {
    // End-of-file met in the loop: the reader's own next read sees it too.
    if (write(chunk) && chunk.length >= FULL_CHUNK) drain(command.readFd, DRAIN_BUDGET, write);
  });
  reader.on('end', finish);
  reader.on('close', finish);
  reader.on('error', finish);
}

/** What the daemon passes as `workerData`: this file is also imported by the daemon itself, for `append`. */
export const COPIER_MARK = 'appmesh-output-copier';

if (workerData === COPIER_MARK) parentPort?.on('message', (command: CopierCommand) => {
  if (command.type === 'copy') copy(command);
  else cuts.get(command.id)?.();
});
