import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isSameProcess, readStartTicks } from '../process/proc-identity.js';

/** Both ends of one pipe: the daemon reads `readFd`, the process writes `writeFd`. */
export interface Pipe {
  readFd: number;
  writeFd: number;
}

/**
 * Made ahead so a burst of starts never waits for a `mkfifo` process on the daemon's event loop.
 * Large batches: starting the `mkfifo` process costs the daemon a fork (milliseconds at its size),
 * a FIFO in memory costs an inode.
 */
const POOL_LOW = 128;
/** The first batch is made this long after the pipe source (the daemon's start). */
const FIRST_BATCH_DELAY_MS = 1000;
const POOL_BATCH = 512;
/**
 * Pipes kept open at both ends for the next starts (two descriptors each): opened after a start,
 * not on its way to the exec. Their names are gone, so nobody else can open them.
 */
const OPENED_AHEAD = 4;

/**
 * Real pipes for run output. Node's own 'pipe' stdio is a socket pair, on which a process cannot
 * open /dev/stdout or /dev/stderr (ENXIO), a habit of countless scripts. Node cannot make an
 * anonymous pipe, so each pipe is a FIFO in the daemon's private folder, opened at both ends and
 * unlinked right after. FIFOs are made ahead in batches (one `mkfifo` process per batch), so a start
 * does not wait for a process of its own. They live in memory (a private folder in /dev/shm) where
 * it is a tmpfs: making and removing a FIFO on a disk file system costs an inode each, which on a
 * busy ext4 took longer than the process it served.
 */
export class PipeSource {
  private readonly ready: string[] = [];
  private readonly openedAhead: Pipe[] = [];
  private openingAhead = false;
  /** The batch being made, so a close can wait for it (its FIFOs must not appear after the close). */
  private refilling?: Promise<void>;
  private closed = false;
  /** Names of opened pipes being removed. */
  private readonly unlinking = new Set<Promise<void>>();
  private readonly mkfifo = findMkfifo();

  /** Where the FIFOs are made: in memory where possible, else `diskDir`. */
  readonly dir: string;
  private readonly inMemory: boolean;

  constructor(diskDir: string, memoryRoot = SHARED_MEMORY) {
    const inMemory = privateMemoryFolder(memoryRoot, diskDir);
    this.dir = inMemory ?? freshFolder(diskDir);
    this.inMemory = inMemory !== undefined;
    // The first batch forks the daemon: after its start, not on the way to readyz (a start
    // before then makes its own FIFO and the batch at once).
    setTimeout(() => this.refill(), FIRST_BATCH_DELAY_MS).unref();
    // After the start: what daemons that were killed left there (any home) goes.
    if (inMemory) setTimeout(() => removeAbandonedFolders(memoryRoot, inMemory), ABANDONED_SWEEP_DELAY_MS).unref();
  }

  /** A new pipe; throws when none can be made. */
  open(): Pipe {
    const ahead = this.openedAhead.pop();
    if (!this.openingAhead && !this.closed) {
      this.openingAhead = true;
      setImmediate(() => this.openAhead());
    }
    return ahead ?? this.openNow();
  }

  private openAhead(): void {
    this.openingAhead = false;
    try {
      // Only from FIFOs made ahead: making one here would fork the daemon.
      while (!this.closed && this.openedAhead.length < OPENED_AHEAD && this.ready.length > 0) this.openedAhead.push(this.openNow());
    } catch {
      // Opened at the start instead.
    }
  }

  private openNow(): Pipe {
    const path = this.ready.pop() ?? this.makeNow();
    try {
      // Non-blocking: the read end opens without a writer; then the write end opens at once.
      const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      const writeFd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW);
      return { readFd, writeFd };
    } finally {
      // Both ends are open: the name is not needed any more. In memory its removal costs less
      // than a thread-pool round trip; on a disk it need not hold the event loop (the folder is
      // the daemon's own, removed whole at the next start).
      if (this.inMemory) {
        try {
          unlinkSync(path);
        } catch {
          // Gone already.
        }
      } else {
        const removal = unlink(path).catch(() => undefined);
        this.unlinking.add(removal);
        void removal.then(() => this.unlinking.delete(removal));
      }
      if (this.ready.length < POOL_LOW) this.refill();
    }
  }

  private makeNow(): string {
    const [path] = this.names(1);
    execFileSync(this.mkfifo, ['-m', '600', path], { stdio: 'ignore' });
    return path;
  }

  private refill(): void {
    if (this.refilling || this.closed) return;
    const paths = this.names(POOL_BATCH);
    this.refilling = new Promise((resolve) => {
      execFile(this.mkfifo, ['-m', '600', ...paths], (error) => {
        this.refilling = undefined;
        if (!error && !this.closed) this.ready.push(...paths);
        else for (const path of paths) rmSync(path, { force: true });
        resolve();
      });
    });
  }

  /** One random draw and one join per batch: a batch of 512 names must not wake V8's optimizing compiler in an idle daemon. */
  private names(count: number): string[] {
    const prefix = join(this.dir, 'pipe-');
    const random = randomBytes(12 * count).toString('hex');
    return Array.from({ length: count }, (_, index) => `${prefix}${random.slice(index * 24, index * 24 + 24)}`);
  }

  /** Removes the FIFOs made ahead (the daemon is going down), once the batch being made is done. */
  async close(): Promise<void> {
    this.closed = true;
    for (const pipe of this.openedAhead.splice(0)) {
      closeSync(pipe.readFd);
      closeSync(pipe.writeFd);
    }
    await this.refilling;
    await Promise.all(this.unlinking);
    for (const path of this.ready.splice(0)) rmSync(path, { force: true });
    rmSync(join(this.dir, OWNER_FILE), { force: true });
    try {
      if (readdirSync(this.dir).length === 0) rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // Gone already.
    }
  }
}

const SHARED_MEMORY = '/dev/shm';
const TMPFS_MAGIC = 0x01021994;
const FOLDER_PREFIX = 'appmesh-pipes-';
/** In each memory folder: the pid and start time of the daemon using it. */
const OWNER_FILE = '.owner';
const ABANDONED_SWEEP_DELAY_MS = 1000;

/** An empty folder of the daemon's own at `dir`; leftovers of an earlier daemon are never reused: nobody knows who opened them. */
function freshFolder(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/**
 * A folder only the daemon's account can enter, in the tmpfs at `root` (shared by every account:
 * a name someone else made there is never used). Named after `diskDir`, so the next daemon on the
 * same home finds and clears what a crash left. Undefined where `root` is not a tmpfs.
 */
function privateMemoryFolder(root: string, diskDir: string): string | undefined {
  try {
    if (statfsSync(root).type !== TMPFS_MAGIC) return undefined;
    const dir = `${root}/${FOLDER_PREFIX}${createHash('sha256').update(diskDir).digest('hex').slice(0, 16)}`;
    if (isOwnPrivateFolder(dir)) rmSync(dir, { recursive: true, force: true });
    let made: string;
    try {
      mkdirSync(dir, { mode: 0o700 });
      // Taken by someone else meanwhile: a name nobody can guess instead.
      made = isOwnPrivateFolder(dir) ? dir : mkdtempSync(`${root}/${FOLDER_PREFIX}`);
    } catch {
      made = mkdtempSync(`${root}/${FOLDER_PREFIX}`);
    }
    writeFileSync(join(made, OWNER_FILE), `${process.pid} ${readStartTicks(process.pid) ?? -1} ${pidNamespace()}\n`, { mode: 0o600 });
    return made;
  } catch {
    return undefined;
  }
}

/**
 * The memory folders of this account whose daemon is gone (killed: a daemon that stops removes
 * its own), with the FIFOs in them. A folder whose daemon runs, or of another account, stays.
 */
function removeAbandonedFolders(root: string, own: string): void {
  let names: string[];
  try {
    names = readdirSync(root).filter((name) => name.startsWith(FOLDER_PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(root, name);
    if (dir === own || !isOwnPrivateFolder(dir)) continue;
    let owner: string;
    try {
      owner = readFileSync(join(dir, OWNER_FILE), 'utf8');
    } catch {
      continue; // Being made right now, or not one of ours.
    }
    const [pidText, ticksText, namespace] = owner.trim().split(' ');
    const [pid, startTicks] = [Number(pidText), Number(ticksText)];
    // A pid says something only in the namespace it was written from (containers may share /dev/shm).
    if (namespace !== pidNamespace() || !Number.isInteger(pid) || !Number.isInteger(startTicks) || startTicks < 0) continue;
    if (!isSameProcess(pid, startTicks)) rmSync(dir, { recursive: true, force: true });
  }
}

/** This process's pid namespace, as the kernel names it (`pid:[4026531836]`). */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return 'unknown';
  }
}

/** A real folder (not a link), of the daemon's account, closed to everyone else. */
function isOwnPrivateFolder(dir: string): boolean {
  try {
    const stats = lstatSync(dir);
    return stats.isDirectory() && stats.uid === (process.getuid?.() ?? stats.uid) && (stats.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

function findMkfifo(): string {
  for (const dir of ['/usr/bin', '/bin']) {
    try {
      accessSync(join(dir, 'mkfifo'), constants.X_OK);
      return join(dir, 'mkfifo');
    } catch {
      // Next folder.
    }
  }
  return 'mkfifo';
}
