import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { detectCgroups, type CgroupDetection, type CgroupMode, type Hierarchy } from './cgroup-detect.js';
import { readCgroupFile, tryWriteCgroupFile, writeCgroupFile } from './cgroup-files.js';
import { RunCgroup } from './run-cgroup.js';

const MiB = 1024 * 1024;
/** `Limits.MaxMemoryPerUserMB: 0` means this share of the host's memory. */
const DEFAULT_USER_MEMORY_SHARE = 0.8;
const REQUIRED_V2 = ['memory', 'pids'];
/** v2: where the daemon moves itself when its own cgroup may not hold processes and children at once. */
const DAEMON_LEAF = 'appmesh-daemons';
/** The folder of one daemon instance (one home) in each hierarchy. */
const INSTANCE_FOLDER = /^appmesh-[0-9a-f]{12}$/;
/** Folders of other instances younger than this are never removed (see removeAbandonedSiblings). */
const ABANDONED_AFTER_MS = 60_000;

export interface CgroupReport {
  mode: CgroupMode;
  controllers: string[];
  /** Why cgroups are not (fully) used. */
  reason?: string;
}

/** Per-user limits, read each time a run starts (the configuration can change meanwhile). */
export interface UserLimits {
  maxProcesses(): number;
  /** 0: a share of the host's memory. */
  maxMemoryMB(): number;
}

export interface RunLimits {
  memoryLimitBytes?: number;
  cpuShares?: number;
}

/** A run's cgroup whose folders a spawner makes right before the fork, with its limits written first. */
export interface PlannedRunCgroup {
  run: RunCgroup;
  /** The folders to make, one per hierarchy. */
  folders: string[];
  /** [file, value] to write once they exist, before any process enters. */
  writes: Array<[string, string]>;
}

/** Removes a run's folders elsewhere (the fork server): true once removed, false while busy, undefined when it cannot. */
export type FolderRemover = (folders: string[]) => Promise<boolean | undefined>;

export interface CgroupsOptions {
  /** The daemon's home: names this instance's tree, so several daemons on one host never meet. */
  home: string;
  /** False: process groups only (a switch for tests and hosts where cgroups must not be touched). */
  enabled: boolean;
  limits: UserLimits;
  log: (level: 'info' | 'warn', message: string) => void;
  detection?: CgroupDetection;
}

/**
 * This daemon's cgroup tree: `<own cgroup>/appmesh-<id>/user-<owner>/run-<uuid>` in every
 * hierarchy used. The per-user parent carries the user's share (processes, memory), each run its
 * own limits; a run's cgroup is removed once its processes are gone.
 */
export class Cgroups {
  private readonly limitErrors = new Map<string, string>();
  /** Per user folder, the limits last written there: a start writes them again only when they changed. */
  private readonly writtenLimits = new Map<string, string>();
  readonly report: CgroupReport;
  private folderRemover?: FolderRemover;
  /** Per optional limit file, whether this kernel has it (asked once). */
  private readonly optionalFiles = new Map<string, boolean>();
  /** The clean-up of other instances' abandoned trees, begun by `open` (a start does not wait for it). */
  siblingsRemoved: Promise<void> = Promise.resolve();

  private constructor(
    private readonly mode: CgroupMode,
    /** This instance's folder in each hierarchy used. */
    private readonly hierarchies: Hierarchy[],
    report: CgroupReport,
    private readonly options: CgroupsOptions,
  ) {
    this.report = report;
  }

  static open(options: CgroupsOptions): Cgroups {
    const instance = `appmesh-${createHash('sha256').update(options.home).digest('hex').slice(0, 12)}`;
    const none = (reason: string) => new Cgroups('none', [], { mode: 'none', controllers: [], reason }, options);
    if (!options.enabled) return none('switched off (APPMESH_CGROUPS=off)');
    if (process.getuid?.() !== 0) return none('the daemon does not run as root');
    const detection = options.detection ?? detectCgroups();
    if (detection.mode === 'none') return none(detection.reason);
    try {
      const hierarchies = detection.mode === 'v2' ? [prepareV2(detection.hierarchy, instance)] : prepareV1(detection.hierarchies, instance);
      const controllers = hierarchies.flatMap((hierarchy) => hierarchy.controllers);
      const cgroups = new Cgroups(detection.mode, hierarchies, { mode: detection.mode, controllers }, options);
      cgroups.removeEmptyLeftovers();
      cgroups.siblingsRemoved = cgroups.removeAbandonedSiblings(instance).catch(() => undefined);
      return cgroups;
    } catch (error) {
      return none(`cannot create the daemon's cgroups: ${(error as Error).message}`);
    }
  }

  get enabled(): boolean {
    return this.mode !== 'none';
  }

  /** Runs' folders are removed through `remover` where it can (the fork server), else by the daemon. */
  useFolderRemover(remover: FolderRemover): void {
    this.folderRemover = remover;
  }

  /**
   * The run's cgroup as folders still to be made by the spawner at the fork, with the run's
   * limits to write in them: no thread-pool round trip of the daemon. Undefined when the user's
   * folders are not known to be ready with the current limits: `createRunOffLoop` makes them.
   */
  planRun(owner: string | undefined, limits: RunLimits, id: string): PlannedRunCgroup | undefined {
    if (this.mode === 'none') return undefined;
    const userName = userFolderName(owner);
    const wanted = this.wantedUserLimits();
    const dirs: Hierarchy[] = [];
    for (const hierarchy of this.hierarchies) {
      const userDir = join(hierarchy.dir, userName);
      if (this.writtenLimits.get(userDir) !== wanted) return undefined;
      dirs.push({ dir: join(userDir, `run-${id}`), controllers: hierarchy.controllers });
    }
    const run = new RunCgroup(this.mode, dirs, this.folderRemover);
    const writes = runLimitWrites(run, this.mode, limits)
      .filter(({ file, optional }) => !optional || this.hasOptionalFile(file))
      .map(({ file, value }): [string, string] => [file, value]);
    return { run, folders: dirs.map((hierarchy) => hierarchy.dir), writes };
  }

  /** The user's folders were found missing (removed from outside): the next start makes them again. */
  forgetUserFolders(owner: string | undefined): void {
    for (const hierarchy of this.hierarchies) this.writtenLimits.delete(join(hierarchy.dir, userFolderName(owner)));
  }

  private wantedUserLimits(): string {
    return `${this.options.limits.maxProcesses()}/${this.options.limits.maxMemoryMB()}`;
  }

  /** Whether an optional limit file exists, asked of its user folder (every folder of a hierarchy has the same files). */
  private hasOptionalFile(file: string): boolean {
    const name = basename(file);
    let known = this.optionalFiles.get(name);
    if (known === undefined) {
      known = existsSync(join(dirname(dirname(file)), name));
      this.optionalFiles.set(name, known);
    }
    return known;
  }

  /**
   * As `createRun`, with the folders made off the event loop: making a cgroup (a memory cgroup
   * above all) waits on the kernel's cgroup lock, milliseconds on a busy host. The user's limits
   * are written before the run's folder exists, so no process can enter before them.
   */
  async createRunOffLoop(owner: string | undefined, limits: RunLimits, id: string): Promise<RunCgroup | undefined> {
    if (this.mode === 'none') return undefined;
    const userName = userFolderName(owner);
    const made = await Promise.allSettled(
      this.hierarchies.map(async (hierarchy): Promise<Hierarchy> => {
        const userDir = join(hierarchy.dir, userName);
        const runDir = join(userDir, `run-${id}`);
        // The user's folder usually exists already: one mkdir then, not three file-system calls.
        const existed = await mkdir(runDir).then(
          () => true,
          (error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error;
            return false;
          },
        );
        if (!existed) {
          await mkdir(userDir, { recursive: true });
          if (this.mode === 'v2') enableControllers(userDir, hierarchy.controllers);
          this.writtenLimits.delete(userDir);
        }
        // Before the run's folder is handed out, so no process can enter before them.
        const wanted = this.wantedUserLimits();
        if (this.writtenLimits.get(userDir) !== wanted) {
          this.applyUserLimits(userDir, hierarchy.controllers, userName);
          // A limit the kernel refused (v1 refuses a memory limit below current use) is tried again next start.
          if (!this.limitErrors.get(userName)) this.writtenLimits.set(userDir, wanted);
        }
        if (!existed) await mkdir(runDir);
        return { dir: runDir, controllers: hierarchy.controllers };
      }),
    );
    const created = made.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    try {
      const failed = made.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed) throw failed.reason;
      const run = new RunCgroup(this.mode, created, this.folderRemover);
      applyRunLimits(run, this.mode, limits);
      return run;
    } catch (error) {
      for (const hierarchy of created) tryRmdir(hierarchy.dir);
      throw new Error(`cannot create the run's cgroup: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  /** A new, empty cgroup for one process tree of `owner`; undefined without cgroups. Throws when it cannot be made. */
  createRun(owner: string | undefined, limits: RunLimits, id: string): RunCgroup | undefined {
    if (this.mode === 'none') return undefined;
    const userName = userFolderName(owner);
    const runName = `run-${id}`;
    const created: Hierarchy[] = [];
    try {
      for (const hierarchy of this.hierarchies) {
        const userDir = join(hierarchy.dir, userName);
        mkdirSync(userDir, { recursive: true });
        if (this.mode === 'v2') enableControllers(userDir, hierarchy.controllers);
        this.applyUserLimits(userDir, hierarchy.controllers, userName);
        const runDir = join(userDir, runName);
        mkdirSync(runDir);
        created.push({ dir: runDir, controllers: hierarchy.controllers });
      }
      const run = new RunCgroup(this.mode, created, this.folderRemover);
      applyRunLimits(run, this.mode, limits);
      return run;
    } catch (error) {
      for (const hierarchy of created) tryRmdir(hierarchy.dir);
      throw new Error(`cannot create the run's cgroup: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }

  /**
   * The run cgroups of this home's tree that still hold processes. Asked at start, before the
   * daemon starts anything, they can only be process trees of an earlier instance that died.
   */
  leftoverRuns(): RunCgroup[] {
    if (this.mode === 'none') return [];
    const byRun = new Map<string, Hierarchy[]>();
    for (const hierarchy of this.hierarchies) {
      for (const user of subfolders(hierarchy.dir)) {
        for (const run of subfolders(join(hierarchy.dir, user)).filter((name) => name.startsWith('run-'))) {
          const key = `${user}/${run}`;
          byRun.set(key, [...(byRun.get(key) ?? []), { dir: join(hierarchy.dir, user, run), controllers: hierarchy.controllers }]);
        }
      }
    }
    return [...byRun.values()].map((dirs) => new RunCgroup(this.mode as 'v1' | 'v2', dirs)).filter((run) => !run.isEmpty());
  }

  /** Removes this instance's empty run and user folders (left by a crash, or by runs that are gone). */
  removeEmptyLeftovers(includeInstance = false): void {
    for (const hierarchy of this.hierarchies) {
      for (const user of subfolders(hierarchy.dir)) {
        for (const run of subfolders(join(hierarchy.dir, user))) tryRmdir(join(hierarchy.dir, user, run));
        tryRmdir(join(hierarchy.dir, user));
      }
      if (includeInstance) tryRmdir(hierarchy.dir);
    }
  }

  /**
   * Empty folder trees of other instances beside this one's: what daemons on other homes left
   * when they were killed (a normal stop removes its own). Only what holds no process goes (the
   * kernel refuses the rest), and nothing made in the last minute: a daemon that is running
   * creates its folders again when it needs them, but not one it is making at this moment.
   * In the thread pool, one call at a time: a host may hold hundreds of such folders, and the
   * start-up's own file work must not queue behind them.
   */
  async removeAbandonedSiblings(instance: string): Promise<void> {
    const settled = Date.now() - ABANDONED_AFTER_MS;
    const isSettled = async (dir: string) => ((await stat(dir).catch(() => undefined))?.mtimeMs ?? settled) < settled;
    for (const hierarchy of this.hierarchies) {
      const parent = dirname(hierarchy.dir);
      for (const sibling of (await subfoldersOffLoop(parent)).filter((name) => INSTANCE_FOLDER.test(name) && name !== instance)) {
        const tree = join(parent, sibling);
        const users = (await subfoldersOffLoop(tree)).map((user) => join(tree, user));
        const runs: string[] = [];
        for (const user of users) runs.push(...(await subfoldersOffLoop(user)).map((run) => join(user, run)));
        // Dated before anything is removed: removing a folder dates its parent anew.
        const removable: string[] = [];
        for (const folder of [...runs, ...users, tree]) if (await isSettled(folder)) removable.push(folder);
        // Holding processes or folders, the kernel refuses the removal.
        for (const folder of removable) await rmdir(folder).catch(() => undefined);
      }
    }
  }

  close(): void {
    this.removeEmptyLeftovers(true);
  }

  private applyUserLimits(userDir: string, controllers: string[], userName: string): void {
    const errors: string[] = [];
    if (controllers.includes('pids')) {
      const error = tryWriteCgroupFile(userDir, 'pids.max', String(this.options.limits.maxProcesses()));
      if (error) errors.push(`pids.max: ${error}`);
    }
    if (controllers.includes('memory')) {
      const configured = this.options.limits.maxMemoryMB();
      const bytes = configured > 0 ? configured * MiB : Math.floor((totalmem() * DEFAULT_USER_MEMORY_SHARE) / 4096) * 4096;
      // Lowering a limit below what the user holds now fails in v1 (EBUSY): the old limit stays.
      const error = tryWriteCgroupFile(userDir, this.mode === 'v2' ? 'memory.max' : 'memory.limit_in_bytes', String(bytes));
      if (error) errors.push(`memory limit: ${error}`);
    }
    const text = errors.join(', ');
    if (text && this.limitErrors.get(userName) !== text) this.options.log('warn', `cgroup limits of ${userName} not applied: ${text}`);
    this.limitErrors.set(userName, text);
  }
}

function prepareV1(hierarchies: Hierarchy[], instance: string): Hierarchy[] {
  const prepared: Hierarchy[] = [];
  for (const hierarchy of hierarchies) {
    const dir = join(hierarchy.dir, instance);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      // cpu and freezer are optional; memory and pids are not.
      if (hierarchy.controllers.includes('memory') || hierarchy.controllers.includes('pids')) throw new Error(`${dir}: ${(error as NodeJS.ErrnoException).code}`);
      continue;
    }
    // Limits of a parent apply to its children only in hierarchical mode (the default of recent kernels).
    if (hierarchy.controllers.includes('memory') && readCgroupFile(dir, 'memory.use_hierarchy') === '0') tryWriteCgroupFile(dir, 'memory.use_hierarchy', '1');
    prepared.push({ dir, controllers: hierarchy.controllers });
  }
  return prepared;
}

/**
 * v2 allows processes only in leaves of a cgroup whose children use controllers ("no internal
 * processes"): when the daemon's own cgroup cannot hand controllers down, the daemon first moves
 * itself into a leaf beside the tree it creates (as systemd does for a delegated unit). Optional
 * controllers that cannot be handed down are left out.
 */
function prepareV2(hierarchy: Hierarchy, instance: string): Hierarchy {
  // A daemon started earlier in this process may have moved it into the leaf already.
  const own = basename(hierarchy.dir) === DAEMON_LEAF ? dirname(hierarchy.dir) : hierarchy.dir;
  const controllers = handDown(own, hierarchy.controllers, hierarchy.controllers.filter((controller) => REQUIRED_V2.includes(controller)));
  const dir = join(own, instance);
  mkdirSync(dir, { recursive: true });
  enableControllers(dir, controllers);
  return { dir, controllers };
}

/** Enables the controllers for the children of the daemon's cgroup; returns those enabled (all, or the required ones). */
function handDown(own: string, all: string[], required: string[]): string[] {
  if (!enableControllers(own, all, false)) return all;
  if (!enableControllers(own, required, false)) return required;
  const leaf = join(own, DAEMON_LEAF);
  mkdirSync(leaf, { recursive: true });
  writeCgroupFile(leaf, 'cgroup.procs', String(process.pid));
  if (!enableControllers(own, all, false)) return all;
  const error = enableControllers(own, required, false);
  if (!error) return required;
  // Other processes share the daemon's cgroup: leave everything as it was.
  tryWriteCgroupFile(own, 'cgroup.procs', String(process.pid));
  tryRmdir(leaf);
  throw new Error(`${own} holds other processes and cannot hand controllers down (${error}): run the daemon in a cgroup of its own (systemd: Delegate=yes)`);
}

/** Hands `controllers` down to the children of `dir`; returns the failure (or throws it when `strict`). */
function enableControllers(dir: string, controllers: string[], strict = true): string | undefined {
  const enabled = (readCgroupFile(dir, 'cgroup.subtree_control') ?? '').split(/\s+/);
  const missing = controllers.filter((controller) => !enabled.includes(controller));
  if (missing.length === 0) return undefined;
  const error = tryWriteCgroupFile(dir, 'cgroup.subtree_control', missing.map((controller) => `+${controller}`).join(' '));
  if (error && strict) throw new Error(`${dir}/cgroup.subtree_control: ${error}`);
  return error;
}

/** The files a run's own limits are written to; an optional one is skipped where the kernel lacks it. */
function runLimitWrites(run: RunCgroup, mode: CgroupMode, limits: RunLimits): Array<{ file: string; value: string; optional: boolean }> {
  const writes: Array<{ file: string; value: string; optional: boolean }> = [];
  const memoryDir = run.dirOf('memory');
  const memory = limits.memoryLimitBytes ?? 0;
  if (memoryDir && memory > 0) {
    if (mode === 'v2') {
      writes.push({ file: join(memoryDir, 'memory.max'), value: String(memory), optional: false });
      // The limit is on memory, not on memory that may move to swap.
      writes.push({ file: join(memoryDir, 'memory.swap.max'), value: '0', optional: true });
    } else {
      writes.push({ file: join(memoryDir, 'memory.limit_in_bytes'), value: String(memory), optional: false });
      writes.push({ file: join(memoryDir, 'memory.memsw.limit_in_bytes'), value: String(memory), optional: true });
    }
  }
  const cpuDir = run.dirOf('cpu');
  const shares = limits.cpuShares ?? 0;
  if (cpuDir && shares > 0) {
    if (mode === 'v2') writes.push({ file: join(cpuDir, 'cpu.weight'), value: String(sharesToWeight(shares)), optional: false });
    else writes.push({ file: join(cpuDir, 'cpu.shares'), value: String(Math.max(2, shares)), optional: false });
  }
  return writes;
}

function applyRunLimits(run: RunCgroup, mode: CgroupMode, limits: RunLimits): void {
  for (const { file, value, optional } of runLimitWrites(run, mode, limits)) {
    if (!optional) writeCgroupFile(dirname(file), basename(file), value);
    else if (existsSync(file)) tryWriteCgroupFile(dirname(file), basename(file), value);
  }
}

/** v1 `cpu.shares` (2..262144, default 1024) to v2 `cpu.weight` (1..10000, default 100). */
export function sharesToWeight(shares: number): number {
  const clamped = Math.min(262_144, Math.max(2, shares));
  return Math.min(10_000, Math.max(1, 1 + Math.round(((clamped - 2) * 9999) / 262_142)));
}

/** A folder name for an owner that cannot be a path trick (`..`, `/`) nor meet another owner's. */
export function userFolderName(owner: string | undefined): string {
  if (owner === undefined || owner === '') return 'daemon';
  if (/^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/.test(owner)) return `user-${owner}`;
  return `user-%${createHash('sha256').update(owner).digest('hex').slice(0, 24)}`;
}

function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

async function subfoldersOffLoop(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
}

function tryRmdir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Still has processes (or is gone).
  }
}
