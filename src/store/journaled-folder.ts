import { open, readdir, readFile, rename, unlink, writeFile, mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic, syncDirectory } from './atomic-file.js';

/** A file's new content, or null: the file goes. */
type Change = string | null;

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
  /** Runs once the change is durable, in the order the changes were made (before any caller resumes). */
  onDurable?: () => void;
}

const JOURNAL = /^\.journal-(\d+)\.json$/;
/** Durable changes wait this long without a new commit before their files are synced and the journals go. */
const CHECKPOINT_IDLE_MS = 5000;
/** More journals than this are folded into the files even while commits go on (bounds the replay at start). */
const CHECKPOINT_MAX_JOURNALS = 256;

export interface JournalStats {
  /** Durable writes (journal files: one temporary file, fsync, rename, directory fsync each). */
  commits: number;
  /** Changes made durable by them (several per commit under load). */
  changes: number;
  /** Times the files were synced and the journals dropped. */
  checkpoints: number;
}

/**
 * A folder of small files (one per key) whose changes are committed in groups: every change made
 * while the previous commit was being written goes into the next one, a single journal file
 * written atomically (temporary file, fsync, rename, directory fsync). Only then are the files
 * themselves replaced (rename, without fsync) and the callers told: an acknowledged change is
 * durable through its journal. When commits pause, the files are fsynced and the journals
 * dropped; at start the journals left by a crash are applied again, in order.
 */
export class JournaledFolder {
  private pending = new Map<string, Change>();
  private waiters: Waiter[] = [];
  private writing?: Promise<void>;
  private nextSequence = 1;
  /** Journals durable but not yet folded into synced files. */
  private journals: number[] = [];
  /** Files replaced since the last checkpoint (not fsynced yet). */
  private unsynced = new Set<string>();
  private checkpointTimer?: NodeJS.Timeout;
  private folderMade = false;
  readonly stats: JournalStats = { commits: 0, changes: 0, checkpoints: 0 };

  constructor(
    private readonly dir: string,
    private readonly fileOf: (key: string) => string,
  ) {}

  /** Queues a change; resolves once a commit holding it is durable and its file replaced. */
  set(key: string, content: Change, onDurable?: () => void): Promise<void> {
    this.pending.set(key, content);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject, onDurable }));
    this.writing ??= this.drain();
    return done;
  }

  /**
   * Queues several changes as one: they go into the same commit (one journal write however many
   * there are). `onDurable` runs once, when all of them are durable.
   */
  setMany(changes: Iterable<readonly [string, Change]>, onDurable?: () => void): Promise<void> {
    for (const [key, content] of changes) this.pending.set(key, content);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject, onDurable }));
    this.writing ??= this.drain();
    return done;
  }

  /** Applies what journals a crash left behind (in order), then drops them. Call before reading the files. */
  async recover(): Promise<{ file: string; reason: string }[]> {
    const problems: { file: string; reason: string }[] = [];
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return problems;
    }
    const found = names.flatMap((name) => {
      const match = JOURNAL.exec(name);
      return match ? [{ name, sequence: Number(match[1]) }] : [];
    });
    found.sort((a, b) => a.sequence - b.sequence);
    for (const { sequence } of found) this.nextSequence = Math.max(this.nextSequence, sequence + 1);
    const applied: string[] = [];
    for (const { name } of found) {
      const path = join(this.dir, name);
      try {
        const entries = JSON.parse(await readFile(path, 'utf8')) as unknown;
        if (!Array.isArray(entries)) throw new Error('not a list of changes');
        for (const entry of entries) {
          if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !(typeof entry[1] === 'string' || entry[1] === null)) throw new Error('not a change');
          const key = entry[0];
          if (key.includes('/') || key.startsWith('.') || key.length === 0) throw new Error(`bad key ${key.slice(0, 64)}`);
          const file = join(this.dir, this.fileOf(key));
          if (entry[1] === null) await unlinkIfThere(file);
          else await writeFileAtomic(file, entry[1], { mode: 0o600 });
        }
        applied.push(path);
      } catch (error) {
        // Left in place for a person to look at; the changes after it still apply.
        problems.push({ file: name, reason: (error as Error).message });
      }
    }
    for (const path of applied) await unlinkIfThere(path);
    if (applied.length) await syncDirectory(this.dir);
    return problems;
  }

  /** Waits for queued commits, then syncs the files and drops the journals (a clean stop). */
  async close(): Promise<void> {
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    while (this.writing) await this.writing;
    await this.checkpoint().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.size > 0) {
        const batch = this.pending;
        const waiters = this.waiters;
        this.pending = new Map();
        this.waiters = [];
        try {
          await this.commit(batch);
        } catch (error) {
          for (const waiter of waiters) waiter.reject(error as Error);
          continue;
        }
        // In call order, synchronously: the caller's view changes in the same order as the files.
        for (const waiter of waiters) {
          try {
            waiter.onDurable?.();
          } finally {
            waiter.resolve();
          }
        }
        if (this.journals.length >= CHECKPOINT_MAX_JOURNALS) await this.checkpoint().catch(() => undefined);
      }
    } finally {
      this.writing = undefined;
    }
    this.scheduleCheckpoint();
  }

  private async commit(batch: Map<string, Change>): Promise<void> {
    // Made once (one thread-pool round trip less per commit); made again after a failed write.
    if (!this.folderMade) await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.folderMade = true;
    const sequence = this.nextSequence++;
    try {
      await writeFileAtomic(join(this.dir, `.journal-${sequence}.json`), JSON.stringify([...batch]), { mode: 0o600 });
    } catch (error) {
      this.folderMade = false;
      throw error;
    }
    this.journals.push(sequence);
    this.stats.commits++;
    this.stats.changes += batch.size;
    // Durable from here: the files follow (page cache only; a crash replays the journal).
    await Promise.all(
      [...batch].map(async ([key, content]) => {
        const file = join(this.dir, this.fileOf(key));
        if (content === null) await unlinkIfThere(file);
        else await replaceWithoutSync(file, content);
        this.unsynced.add(key);
      }),
    );
  }

  private scheduleCheckpoint(): void {
    if (this.journals.length === 0) return;
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      if (this.writing) return; // the drain schedules it again when it ends
      this.writing = this.checkpoint()
        .catch(() => undefined)
        .finally(() => {
          this.writing = undefined;
          // Changes queued meanwhile waited for the checkpoint: commit them now.
          if (this.pending.size > 0) this.writing = this.drain();
        });
    }, CHECKPOINT_IDLE_MS);
    this.checkpointTimer.unref();
  }

  /** fsyncs every file replaced since the last checkpoint, then drops the journals that held them (oldest first). */
  private async checkpoint(): Promise<void> {
    const journals = this.journals;
    const keys = this.unsynced;
    if (journals.length === 0) return;
    this.journals = [];
    this.unsynced = new Set();
    try {
      await Promise.all([...keys].map((key) => syncFile(join(this.dir, this.fileOf(key)))));
      await syncDirectory(this.dir);
    } catch (error) {
      // Kept for the next checkpoint: nothing is dropped that is not synced.
      this.journals = [...journals, ...this.journals];
      for (const key of keys) this.unsynced.add(key);
      throw error;
    }
    // Oldest first: whichever deletions a crash keeps, the journals left are a suffix and replay in order.
    for (const sequence of journals) await unlinkIfThere(join(this.dir, `.journal-${sequence}.json`));
    await syncDirectory(this.dir);
    this.stats.checkpoints++;
  }
}

async function replaceWithoutSync(path: string, content: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(temp, content, { mode: 0o600, flag: 'wx' });
  try {
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!handle) return;
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkIfThere(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
