import { close, closeSync, constants, existsSync, fstatSync, lstatSync, open, openSync, read, readdir, readSync, renameSync, statSync, unlink, unlinkSync } from 'node:fs';
import { promisify } from 'node:util';
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CappedOutputFile } from './capped-output-file.js';
import type { PipeSource } from './pipe-source.js';

/**
 * Most bytes one read returns, whatever the caller asks: a read holds its bytes in memory, so
 * this bounds a read's cost by itself; callers page on with `nextPosition`.
 */
export const MAX_OUTPUT_READ_BYTES = 4 * 1024 * 1024;

/** Reads up to this size are made at once on the event loop, larger ones in the thread pool. */
const SMALL_READ_BYTES = 64 * 1024;
const readAt = promisify(read);
const openAt = promisify(open);

export interface OutputMatch {
  /** 1-based line number. */
  line: number;
  /** Byte offset of the line's start (a `read_output` cursor). */
  offset: number;
  text: string;
}

export interface OutputChunk {
  data: Buffer;
  /** Byte offset just after the returned data. */
  nextPosition: number;
  /** Size of the file when it was read. */
  size: number;
}

/**
 * The output files of one application: index 0 is the current (or last) run, 1..N the runs
 * before it. The daemon writes them from each run's pipe (stdout and stderr joined, in order),
 * a chunk at a time, never above `Limits.MaxOutputBytesPerRun`.
 */
export class OutputFiles {
  private lastOpening: Promise<unknown> = Promise.resolve();
  /** The file the latest run writes. */
  private current?: CappedOutputFile;
  /** The current file's name (asked for at every start, read and removal). */
  private readonly base: string;

  constructor(private readonly dir: string, appName: string) {
    this.base = join(dir, `appmesh.${appName}.out`);
    sweepRemovedOnce(dir);
  }

  path(index = 0): string {
    return index === 0 ? this.base : `${this.base}.${index}`;
  }

  /**
   * Shifts the current file into history (keeping `keep` previous runs) and opens a new one. The
   * new file is created in the thread pool: a file system that is slow to create files (a journal
   * under load) does not hold the event loop, and the caller can do other start work meanwhile.
   */
  openForNewRun(keep: number, maxBytes: () => number, pipes: PipeSource): Promise<CappedOutputFile> {
    // One at a time: a start shifts the file the start before it opened, never one being created.
    // After the files of an app of the same name that went, if they are still being removed.
    const removal = removals.get(this.base);
    const before = removal ? Promise.all([this.lastOpening, removal]) : this.lastOpening;
    const opening = before.then(() => this.shiftAndOpen(keep, maxBytes, pipes));
    this.lastOpening = opening.catch(() => undefined);
    return opening;
  }

  private async shiftAndOpen(keep: number, maxBytes: () => number, pipes: PipeSource): Promise<CappedOutputFile> {
    this.current = undefined;
    if (existsSync(this.path(0))) {
      if (keep > 0) {
        for (let index = keep; index >= 1; index--) {
          if (existsSync(this.path(index))) {
            if (index === keep) removeOffLoop(this.dir, this.path(index));
            else renameSync(this.path(index), this.path(index + 1));
          }
        }
        renameSync(this.path(0), this.path(1));
      } else {
        // Truncating a large file at open would free its blocks on the event loop.
        removeOffLoop(this.dir, this.path(0));
      }
    }
    this.pruneHistory(keep);
    const fd = takeSpare(this.dir, this.path(0)) ?? (await this.create());
    try {
      this.current = new CappedOutputFile(fd, pipes.open(), maxBytes);
      return this.current;
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  private create(): Promise<number> {
    // The folder is the daemon's own; a link planted in it is never followed.
    return openAt(this.path(0), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  }

  /** Number of files currently kept (current + history). */
  count(): number {
    if (removals.has(this.base)) return 0;
    let count = existsSync(this.path(0)) ? 1 : 0;
    for (let index = 1; existsSync(this.path(index)); index++) count++;
    return count;
  }

  size(index = 0): number | undefined {
    if (removals.has(this.base)) return undefined;
    try {
      return statSync(this.path(index)).size;
    } catch {
      return undefined;
    }
  }

  /**
   * Reads `[position, position + maxSize)`, at most MAX_OUTPUT_READ_BYTES of it; undefined when
   * the file is missing or too short.
   */
  async read(index: number, position: number, maxSize: number): Promise<OutputChunk | undefined> {
    // Files being removed are nobody's any more (a new app may have the name already).
    if (removals.has(this.base)) return undefined;
    // A run that wrote nothing (a quick command's usual case): no need to open its file.
    if (index === 0 && position === 0 && this.current?.endedEmpty) return { data: Buffer.alloc(0), nextPosition: 0, size: 0 };
    let fd: number;
    try {
      fd = openSync(this.path(index), constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      const { size } = fstatSync(fd);
      if (position > size) return undefined;
      const length = Math.min(maxSize, MAX_OUTPUT_READ_BYTES, size - position);
      const data = Buffer.alloc(length);
      let filled = 0;
      // A small read from the page cache costs less than the thread pool's round trips.
      const small = length <= SMALL_READ_BYTES;
      while (filled < length) {
        const bytesRead = small ? readSync(fd, data, filled, length - filled, position + filled) : (await readAt(fd, data, filled, length - filled, position + filled)).bytesRead;
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return { data: data.subarray(0, filled), nextPosition: position + filled, size };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Lines of an output that contain `needle` (plain text, not a pattern: no expression can stall
   * the daemon), with their line number and byte offset. Streams the file; bounded by `maxMatches`.
   */
  async search(index: number, needle: string, options: { ignoreCase: boolean; maxMatches: number; maxLineBytes: number }): Promise<OutputMatch[] | undefined> {
    if (removals.has(this.base)) return undefined;
    let stream;
    try {
      stream = createReadStream(this.path(index), { highWaterMark: 256 * 1024 });
      await once(stream, 'open');
    } catch {
      return undefined;
    }
    const wanted = Buffer.from(options.ignoreCase ? needle.toLowerCase() : needle);
    // A line is searched by its head only (4 × maxLineBytes): memory stays bounded whatever it holds.
    const cap = options.maxLineBytes * 4;
    const matches: OutputMatch[] = [];
    let head: Buffer[] = [];
    let headBytes = 0;
    let lineLength = 0;
    let lineStart = 0;
    let line = 0;
    const keep = (part: Buffer) => {
      lineLength += part.length;
      const room = cap - headBytes;
      if (room <= 0) return;
      const kept = part.subarray(0, room);
      head.push(Buffer.from(kept));
      headBytes += kept.length;
    };
    const endLine = () => {
      line++;
      const bytes = Buffer.concat(head);
      const haystack = options.ignoreCase ? Buffer.from(bytes.toString('utf8').toLowerCase()) : bytes;
      if (haystack.includes(wanted)) matches.push({ line, offset: lineStart, text: bytes.subarray(0, options.maxLineBytes).toString('utf8') });
      lineStart += lineLength + 1;
      head = [];
      headBytes = 0;
      lineLength = 0;
    };
    try {
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        let position = 0;
        for (let newline = chunk.indexOf(10); newline >= 0; newline = chunk.indexOf(10, position)) {
          keep(chunk.subarray(position, newline));
          endLine();
          position = newline + 1;
          if (matches.length >= options.maxMatches) return matches;
        }
        keep(chunk.subarray(position));
      }
      if (lineLength > 0) endLine();
      return matches;
    } finally {
      stream.destroy();
    }
  }

  /**
   * Removes the current file and its history in the thread pool (an unlink costs a journal write,
   * and frees the blocks of a large file): nothing of it on the event loop. Until it is done the
   * files read as absent, and a start under the same name waits for it.
   */
  removeAll(): void {
    this.current = undefined;
    const base = this.base;
    const removal = (removals.get(base) ?? Promise.resolve()).then(() => removeFiles(base));
    removals.set(base, removal);
    void removal.then(() => {
      if (removals.get(base) === removal) removals.delete(base);
    });
  }

  private pruneHistory(keep: number): void {
    for (let index = keep + 1; existsSync(this.path(index)); index++) removeOffLoop(this.dir, this.path(index));
  }
}

/** Removals of apps' files under way, by the name of the current file. */
const removals = new Map<string, Promise<void>>();
const unlinkFile = promisify(unlink);

/**
 * `<base>`, then `<base>.1`, `<base>.2`... while they exist; never fails. History is looked for
 * with a probe, not a failed unlink (an error costs a stack trace), as it is rarely there.
 */
async function removeFiles(base: string): Promise<void> {
  await unlinkFile(base).catch(() => undefined);
  for (let index = 1; existsSync(`${base}.${index}`); index++) await unlinkFile(`${base}.${index}`).catch(() => undefined);
}

const REMOVED_PREFIX = '.removed-';
const SPARE_PREFIX = '.spare-';
/** Spare files are made again, a batch at a time, when fewer than this are left. */
const SPARES_LOW = 8;
const SPARES_BATCH = 16;

interface Spare {
  path: string;
  fd: number;
}

/**
 * Empty files made ahead in an output folder, each held open for writing. A start takes one by
 * renaming it to its output file's name (a few microseconds on the event loop) instead of
 * creating that file (a journal write of 0.1-0.3 ms, in the thread pool, on the way to every
 * start). Made one at a time in the thread pool, so a batch never holds all its threads.
 */
class SpareFiles {
  private readonly ready: Spare[] = [];
  private refilling = false;
  private closed = false;
  /** Names carry the instance, so a folder's next user knows which spares nobody holds any more. */
  readonly instance = randomBytes(6).toString('hex');
  private made = 0;

  constructor(private readonly dir: string) {}

  take(): Spare | undefined {
    const spare = this.ready.pop();
    if (this.ready.length < SPARES_LOW) this.refill();
    return spare;
  }

  close(): void {
    this.closed = true;
    for (const spare of this.ready.splice(0)) discardSpare(spare);
  }

  private refill(): void {
    if (this.refilling || this.closed) return;
    this.refilling = true;
    this.makeSpares(SPARES_BATCH);
  }

  /** One after the other, with plain callbacks (no promise per file). */
  private makeSpares(left: number): void {
    if (left === 0 || this.closed) {
      this.refilling = false;
      return;
    }
    const path = join(this.dir, `${SPARE_PREFIX}${this.instance}-${++this.made}`);
    open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600, (error, fd) => {
      if (error) {
        // The folder is gone or full: starts create their files themselves.
        this.refilling = false;
        return;
      }
      if (this.closed) discardSpare({ path, fd });
      else this.ready.push({ path, fd });
      this.makeSpares(left - 1);
    });
  }
}

const spares = new Map<string, SpareFiles>();

/** A spare file of `dir` renamed to `path`, open for writing; undefined when none is ready. */
function takeSpare(dir: string, path: string): number | undefined {
  let pool = spares.get(dir);
  if (!pool) spares.set(dir, (pool = new SpareFiles(dir)));
  const spare = pool.take();
  if (!spare) return undefined;
  try {
    // The folder is the daemon's own; a rename replaces a name, it never follows a link.
    renameSync(spare.path, path);
    return spare.fd;
  } catch {
    discardSpare(spare);
    return undefined;
  }
}

function discardSpare(spare: Spare): void {
  close(spare.fd, () => undefined);
  unlink(spare.path, () => undefined);
}

/** The spare files of an output folder go (the daemon using it closes). */
export function releaseSpareFiles(dir: string): void {
  spares.get(dir)?.close();
  spares.delete(dir);
}
const SMALL_FILE_BYTES = 1024 * 1024;

/**
 * Removes an output file without freeing its blocks on the event loop (unlinking a file of
 * hundreds of MiB takes milliseconds to tens of them): the name goes at once (a rename), the
 * blocks go in the thread pool. Throws like unlink when the file is missing.
 */
function removeOffLoop(dir: string, path: string): void {
  // A small file goes at once: fewer blocks to free than a thread-pool round trip costs.
  if (lstatSync(path).size <= SMALL_FILE_BYTES) {
    unlinkSync(path);
    return;
  }
  const removed = join(dir, `${REMOVED_PREFIX}${randomBytes(8).toString('hex')}`);
  renameSync(path, removed);
  unlink(removed, () => undefined);
}

const swept = new Set<string>();

/**
 * Files a daemon renamed for removal but did not live to remove, and spare files nobody holds
 * (a daemon killed before it could remove its own): gone with the first app that uses the folder.
 */
function sweepRemovedOnce(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  readdir(dir, (error, names) => {
    if (error) return;
    const held = [...spares].filter(([folder]) => folder === dir).map(([, pool]) => `${SPARE_PREFIX}${pool.instance}-`);
    for (const name of names) {
      const abandonedSpare = name.startsWith(SPARE_PREFIX) && !held.some((prefix) => name.startsWith(prefix));
      if (name.startsWith(REMOVED_PREFIX) || abandonedSpare) unlink(join(dir, name), () => undefined);
    }
  });
}
