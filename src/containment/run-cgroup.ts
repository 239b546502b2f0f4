import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { basename, join } from 'node:path';
import { rmdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupMode, Hierarchy } from './cgroup-detect.js';
import type { FolderRemover } from './cgroups.js';
import { flatKeyedValue, parsePids, readCgroupFd, readCgroupFile, signalAll, tryWriteCgroupFile } from './cgroup-files.js';

const POLL_MS = 20;
const RUN_FOLDER = /^run-[0-9a-f-]{36}$/;
/** Freezing waits for tasks to reach a safe point; a task stuck in the kernel must not hold the kill up. */
const FREEZE_WAIT_MS = 500;
const KILL_ROUNDS = 100;
const RMDIR_ATTEMPTS = 40;
/** Runs whose end files are open at the same time (three descriptors each). */
const MAX_RUNS_WITH_EXIT_FILES = 32;

/**
 * The cgroup of one process tree (one folder per hierarchy in v1, one folder in v2). Everything
 * the tree forks stays in it, whatever session or process group it makes for itself, so it is
 * counted, limited and killed as a whole.
 */
export class RunCgroup {
  private removed = false;
  /** The files read at the run's end, opened ahead: path → descriptor. */
  private exitFiles?: Map<string, number>;
  private exitFilesTimer?: NodeJS.Timeout;
  private static runsWithExitFiles = 0;

  constructor(
    readonly mode: Exclude<CgroupMode, 'none'>,
    /** The run's own folder in each hierarchy, with the controllers of that hierarchy. */
    readonly dirs: readonly Hierarchy[],
    /** Removes the folders in another process (the fork server) where it can. */
    private readonly removeElsewhere?: FolderRemover,
  ) {}

  /**
   * The cgroup of a run a previous instance of the daemon recorded, from the folders that still
   * exist and are run cgroups (a cgroup.procs file, a `run-<uuid>` name); undefined when none is left.
   */
  static fromRecord(mode: Exclude<CgroupMode, 'none'>, dirs: readonly Hierarchy[]): RunCgroup | undefined {
    const left = dirs.filter((hierarchy) => RUN_FOLDER.test(basename(hierarchy.dir)) && existsSync(join(hierarchy.dir, 'cgroup.procs')));
    return left.length > 0 ? new RunCgroup(mode, left) : undefined;
  }

  /** The files a new process writes its pid into to enter this cgroup (every hierarchy). */
  get procsFiles(): string[] {
    return this.dirs.map((hierarchy) => join(hierarchy.dir, 'cgroup.procs'));
  }

  /** Folder of the hierarchy carrying `controller` (v2: the only one). */
  dirOf(controller: string): string | undefined {
    return this.dirs.find((hierarchy) => hierarchy.controllers.includes(controller))?.dir;
  }

  /** Processes in the cgroup: read where the pids controller counts them. */
  members(): number[] {
    const dir = this.dirOf('pids') ?? this.dirs[0].dir;
    return parsePids(this.read(dir, 'cgroup.procs'));
  }

  /**
   * Opens the files read when the run ends (its members, OOM kills and peak memory) while it is
   * young and the daemon waits anyway: the first lookup in a new cgroup folder is the slow part,
   * and a short command's end then reads them at once. Closed after `holdMs` if the run goes on.
   */
  openExitFiles(holdMs: number): void {
    // A burst of starts does not hold descriptors by the thousand: the runs past the cap read by name.
    if (this.exitFiles || this.removed || RunCgroup.runsWithExitFiles >= MAX_RUNS_WITH_EXIT_FILES) return;
    RunCgroup.runsWithExitFiles++;
    const files = new Map<string, number>();
    const memory = this.dirOf('memory');
    const paths = [join(this.dirOf('pids') ?? this.dirs[0].dir, 'cgroup.procs')];
    if (memory) paths.push(join(memory, this.mode === 'v2' ? 'memory.events' : 'memory.oom_control'), join(memory, this.mode === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes'));
    for (const path of paths) {
      try {
        files.set(path, openSync(path, constants.O_RDONLY));
      } catch {
        // Read by its name at the end.
      }
    }
    this.exitFiles = files;
    this.exitFilesTimer = setTimeout(() => this.closeExitFiles(), holdMs).unref();
  }

  closeExitFiles(): void {
    const files = this.exitFiles;
    if (!files) return;
    clearTimeout(this.exitFilesTimer);
    this.exitFiles = undefined;
    RunCgroup.runsWithExitFiles--;
    for (const fd of files.values()) closeSync(fd);
  }

  private read(dir: string, name: string): string | undefined {
    const fd = this.exitFiles?.get(join(dir, name));
    return fd === undefined ? readCgroupFile(dir, name) : readCgroupFd(fd);
  }

  isEmpty(): boolean {
    return this.members().length === 0;
  }

  /** Moves a running process in (when it could not enter before exec). */
  place(pid: number): void {
    // Fails only when it exited already.
    for (const hierarchy of this.dirs) tryWriteCgroupFile(hierarchy.dir, 'cgroup.procs', String(pid));
  }

  /** Processes the kernel's OOM killer ended in this cgroup. */
  oomKills(): number {
    const memory = this.dirOf('memory');
    if (!memory) return 0;
    const file = this.mode === 'v2' ? 'memory.events' : 'memory.oom_control';
    return flatKeyedValue(this.read(memory, file), 'oom_kill') ?? 0;
  }

  /** Highest memory use seen, where the kernel keeps it. */
  peakMemoryBytes(): number | undefined {
    const memory = this.dirOf('memory');
    if (!memory) return undefined;
    const text = this.read(memory, this.mode === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes');
    const value = Number(text);
    return text && Number.isFinite(value) ? value : undefined;
  }

  /**
   * SIGTERM to every process, SIGKILL to whatever is left after `graceMs`, repeated until the
   * cgroup is empty even if its processes fork meanwhile. Resolves once it is empty (or the
   * attempts are exhausted: then false). `leaderExited` (the first process's exit, as reported)
   * is awaited before polling: a tree that was only its leader is empty then.
   */
  async terminate(graceMs: number, leaderExited?: Promise<unknown>): Promise<boolean> {
    if (this.isEmpty()) return true;
    this.withFrozen(() => {
      const pids = this.members();
      signalAll(pids, 'SIGTERM');
      // Stopped processes act on TERM only once continued.
      signalAll(pids, 'SIGCONT');
    });
    if (await this.waitEmpty(graceMs, leaderExited)) return true;
    return this.killAll();
  }

  /** Kills every process now (no grace). */
  async killAll(): Promise<boolean> {
    const killFile = this.mode === 'v2' && existsSync(join(this.dirs[0].dir, 'cgroup.kill'));
    for (let round = 0; round < KILL_ROUNDS; round++) {
      if (this.isEmpty()) return true;
      if (killFile && !tryWriteCgroupFile(this.dirs[0].dir, 'cgroup.kill', '1')) {
        // The kernel kills every member and every process forked meanwhile.
        if (await this.waitEmpty(2000)) return true;
        continue;
      }
      // Frozen, nobody can fork or exit: the list is complete and no pid is reused under our hands.
      await this.withFrozenAsync(async () => signalAll(this.members(), 'SIGKILL'));
      if (await this.waitEmpty(100)) return true;
    }
    return this.isEmpty();
  }

  /** Removes the cgroup's folders once it is empty (a folder with processes cannot be removed). */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.closeExitFiles();
    let elsewhere = this.removeElsewhere;
    for (let attempt = 0; attempt < RMDIR_ATTEMPTS; attempt++) {
      // Off the event loop: cgroupfs operations wait on the kernel's cgroup lock, busy hosts make them slow.
      const byServer = elsewhere ? await elsewhere(this.dirs.map((hierarchy) => hierarchy.dir)) : undefined;
      if (byServer === undefined) elsewhere = undefined;
      const removed = byServer !== undefined ? [byServer] : await Promise.all(this.dirs.map((hierarchy) => rmdir(hierarchy.dir).then(() => true, (error: NodeJS.ErrnoException) => error.code === 'ENOENT')));
      if (removed.every(Boolean)) {
        this.removed = true;
        return;
      }
      // Exited processes leave their cgroup once reaped: usually a moment, rarely longer.
      await sleep(Math.min(25, 2 ** attempt));
    }
  }

  private async waitEmpty(ms: number, leaderExited?: Promise<unknown>): Promise<boolean> {
    const deadline = Date.now() + ms;
    if (leaderExited && !this.isEmpty()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([leaderExited, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
      clearTimeout(timer);
    }
    while (!this.isEmpty()) {
      if (Date.now() >= deadline) return false;
      await sleep(POLL_MS);
    }
    return true;
  }

  private withFrozen(action: () => void): void {
    const freezer = this.freezer();
    if (!freezer) return action();
    tryWriteCgroupFile(freezer.dir, freezer.file, freezer.frozen);
    try {
      action();
    } finally {
      tryWriteCgroupFile(freezer.dir, freezer.file, freezer.thawed);
    }
  }

  private async withFrozenAsync(action: () => Promise<void>): Promise<void> {
    const freezer = this.freezer();
    if (!freezer) return action();
    tryWriteCgroupFile(freezer.dir, freezer.file, freezer.frozen);
    try {
      const deadline = Date.now() + FREEZE_WAIT_MS;
      while (!freezer.isFrozen() && Date.now() < deadline) await sleep(5);
      await action();
    } finally {
      tryWriteCgroupFile(freezer.dir, freezer.file, freezer.thawed);
    }
  }

  private freezer(): { dir: string; file: string; frozen: string; thawed: string; isFrozen: () => boolean } | undefined {
    if (this.mode === 'v2') {
      const dir = this.dirs[0].dir;
      if (!existsSync(join(dir, 'cgroup.freeze'))) return undefined;
      return { dir, file: 'cgroup.freeze', frozen: '1', thawed: '0', isFrozen: () => flatKeyedValue(readCgroupFile(dir, 'cgroup.events'), 'frozen') === 1 };
    }
    const dir = this.dirOf('freezer');
    if (!dir) return undefined;
    return { dir, file: 'freezer.state', frozen: 'FROZEN', thawed: 'THAWED', isFrozen: () => readCgroupFile(dir, 'freezer.state') === 'FROZEN' };
  }
}
