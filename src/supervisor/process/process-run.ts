import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Containment } from '../../containment/containment.js';
import { planLaunch } from '../../containment/launcher.js';
import type { RunCgroup } from '../../containment/run-cgroup.js';
import { CgroupSetupFailed, SPAWN_FAILED, SpawnFailed, SpawnOutcomeUnknown, type ProcessExitStatus, type SpawnRequest, type SpawnedProcess } from '../../containment/spawner.js';
import { takeRandomBytes } from '../../util/random-pool.js';
import { splitCommandLine } from './command-line.js';
import { directStartOf } from './simple-command.js';
import { launchProcess } from './process-launch.js';
import { findProcessesByEnv } from './proc-identity.js';
import { terminatePids } from './process-group.js';
import { cgroupTree, processGroupTree, type ProcessTree } from './process-tree.js';

/** Where a run's output goes: the process writes a pipe, the daemon copies it on. */
export interface OutputTarget {
  /** The pipe's write end: the process's stdout (and stderr, joined by the launcher). */
  readonly fd: number;
  /**
   * The process was started: copies until end-of-file (every writer closed the pipe) or `cut()`.
   * `leaderExited` settles when the process exits (its tree may go on).
   */
  copy(leaderExited?: Promise<unknown>): Promise<void>;
  /** Stops copying now. */
  cut(): void;
  /** True while the copy waits on the daemon itself (its copier thread starting), not on the pipe's writers. */
  readonly waitingOnDaemon?: boolean;
  /** No process was started for it. */
  discard(): void;
}

export interface RunSpec {
  command: string;
  shell: boolean;
  workingDir: string;
  env: Record<string, string>;
  /** Written to stdin, then closed; absent means stdin is /dev/null. */
  stdin?: string;
  /** Keep stdin open as a pipe for `writeStdin` (interactive programs). */
  interactive?: boolean;
  /**
   * Receives stdout and stderr, one pipe in the order written; absent: both are discarded. Given
   * as a promise, it is awaited alongside the rest of the start's preparation.
   */
  output?: OutputTarget | Promise<OutputTarget>;
  /** OS account to run as; absent: the daemon's own. */
  user?: { name: string; uid: number; gid: number };
  /** The App Mesh user owning the run: its process tree goes under this user's parent cgroup. */
  owner?: string;
  /** Kernel-enforced memory limit of the run's process tree (cgroup); absent or 0: none of its own. */
  memoryLimitBytes?: number;
  /** Relative CPU weight of the run's process tree (cgroup v1 `cpu.shares` scale); absent or 0: default. */
  cpuShares?: number;
  /**
   * Argv prefix placed after the privilege drop and right before the command's argv (a sandbox
   * such as bubblewrap, which then executes the command).
   */
  sandboxArgv?: string[];
  /** Told once the process runs; the function it returns is called once nothing of the run is left. */
  recorder?: (run: StartedRun) => RunRecording;
}

/** A run's crash-recovery record: written before the start returns, removed once nothing of the run is left. */
export interface RunRecording {
  written: Promise<void>;
  forget(): Promise<void>;
}

/** A run's process as crash recovery records it. */
export interface StartedRun {
  uuid: string;
  pid: number;
  processKey: string;
  cgroup?: RunCgroup;
}

/** Every process of a run inherits its key under this name: the marker of its tree without cgroups. */
export const PROCESS_KEY_ENV = 'APP_MESH_PROCESS_KEY';

export interface RunExit {
  /** Exit status, or minus the signal number when a signal ended the process. */
  code: number;
  signal?: NodeJS.Signals;
  atMs: number;
  /** True when the daemon stopped the run (disable, timeout, delete...): no exit action. */
  deliberate: boolean;
  /** The kernel's OOM killer ended a process of the run (its memory limit, or its owner's). */
  oomKilled?: boolean;
  /** Highest memory use of the whole tree, where the kernel keeps it. */
  peakMemoryBytes?: number;
  /** The exit could not be observed (the process spawner ended): the daemon ended the tree itself; says why. */
  lost?: string;
}

export class StartError extends Error {}

/** After the tree is gone the pipe reaches end-of-file at once; this bounds a writer that escaped it. */
const OUTPUT_DRAIN_MS = 1000;
/** How long the files read at a run's end stay open ahead of it (a longer run reads them by name). */
const EXIT_FILES_HOLD_MS = 200;

/** The spawner and the cgroup placement a run was started with, kept until the run is built. */
interface Launched {
  process: SpawnedProcess;
  cgroup?: RunCgroup;
  /** The launcher entered the cgroup before the command (else the daemon placed the process after its start). */
  placedBeforeExec: boolean;
  output?: OutputTarget;
}

/**
 * One execution of a command: the launcher puts it in its own cgroup (or process group) before
 * it runs and drops to its user, so the whole tree can be limited and stopped. The fork happens
 * in the spawner process (the daemon's event loop goes on meanwhile), which reports the pid and,
 * later, the exit. Its output comes through a pipe that the daemon copies into the output file.
 */
export class ProcessRun {
  readonly uuid: string;
  /** Secret of this run for the worker side of the task API. */
  readonly processKey: string;
  readonly startedAtMs = Date.now();
  readonly pid: number;
  /** The OS account it runs as when the daemon switched users. */
  readonly user?: string;
  /** Resolves once the leader exited and its output is written. */
  readonly exited: Promise<RunExit>;
  exit?: RunExit;
  private deliberate = false;
  private readonly process: SpawnedProcess;
  private readonly tree: ProcessTree;
  private terminating?: Promise<void>;
  /** Removes the run's crash-recovery record. */
  private readonly forget?: () => Promise<void>;
  /** Resolves once nothing of the tree is left and what it held is freed. */
  private released: Promise<void> = Promise.resolve();
  /** The crash-recovery record is on disk. */
  private readonly recorded: Promise<void>;

  private constructor(spec: RunSpec, private readonly graceMs: number, identity: { uuid: string; processKey: string }, launched: Launched) {
    this.uuid = identity.uuid;
    this.processKey = identity.processKey;
    this.user = spec.user?.name;
    const { process: child, cgroup, output } = launched;
    this.process = child;
    this.pid = child.pid;
    // A lost exit (the spawner ended) says nothing about the tree: it is checked, not assumed gone.
    const leaderExited = child.exited.then((status) => (status.lost ? new Promise<never>(() => undefined) : status));
    this.tree = cgroup ? cgroupTree(cgroup, child.pid, leaderExited, launched.placedBeforeExec && child.reportedAtExec === true) : processGroupTree(child.pid, { name: PROCESS_KEY_ENV, value: this.processKey }, leaderExited);
    // Opened while the command runs: its end then reads them at once.
    cgroup?.openExitFiles(EXIT_FILES_HOLD_MS);
    const recording = spec.recorder?.({ uuid: this.uuid, pid: child.pid, processKey: this.processKey, cgroup });
    this.forget = recording ? () => recording.forget() : undefined;
    this.recorded = recording?.written ?? Promise.resolve();
    const drained = output ? output.copy(child.exited) : Promise.resolve();
    this.exited = child.exited.then((status) => this.finish(status, drained, output));
  }

  /**
   * Starts the command: resolves once it runs (its pid known), rejects with StartError when it
   * could not be started. The daemon's event loop is not held while the process is forked.
   */
  static async start(spec: RunSpec, graceMs: number, containment?: Containment): Promise<ProcessRun> {
    const identity = { uuid: randomUUID(), processKey: takeRandomBytes(24).toString('base64url') };
    const stdin = spec.stdin === undefined && !spec.interactive ? 'ignore' : 'pipe';
    const limits = { memoryLimitBytes: spec.memoryLimitBytes, cpuShares: spec.cpuShares };
    // The fork server makes the run's folders right before its fork: no thread-pool round trips here.
    const atFork = containment?.spawner?.makesCgroupsAtFork(stdin) ? containment.cgroups.planRun(spec.owner, limits, identity.uuid) : undefined;
    let cgroup: RunCgroup | undefined = atFork?.run;
    let output: OutputTarget | undefined;
    let child: SpawnedProcess;
    let launchError: unknown;
    let placedBeforeExec = false;
    try {
      // Both wait on the file system, not on each other: made at the same time.
      const made = atFork ? Promise.resolve(atFork.run) : containment?.cgroups.createRunOffLoop(spec.owner, limits, identity.uuid);
      const [resolved, placed, bash, opened] = await Promise.allSettled([resolveCommand(spec), made, findOwnBash(spec), spec.output]);
      if (placed.status === 'fulfilled') cgroup = placed.value;
      if (opened.status === 'fulfilled') output = opened.value;
      if (resolved.status === 'rejected') throw resolved.reason;
      if (placed.status === 'rejected') throw new StartError((placed.reason as Error).message);
      if (opened.status === 'rejected') throw new StartError(`output file not opened: ${(opened.reason as Error).message}`);
      const argv = resolved.value;
      const shell = bash.status === 'fulfilled' && bash.value ? { bash: bash.value, command: spec.command } : undefined;
      const plan = planLaunch(
        { argv, env: { ...spec.env, [PROCESS_KEY_ENV]: identity.processKey }, user: spec.user, cgroupProcsFiles: cgroup?.procsFiles ?? [], sandboxArgv: spec.sandboxArgv, shell },
        containment?.tools,
      );
      const request: SpawnRequest = {
        file: plan.file,
        args: plan.args,
        env: plan.env,
        cwd: spec.workingDir,
        uid: plan.uid,
        gid: plan.gid,
        stdoutFd: output?.fd,
        stdin,
        input: spec.stdin,
        keepStdinOpen: spec.interactive ?? false,
        ...(atFork ? { cgroup: { folders: atFork.folders, writes: atFork.writes } } : {}),
      };
      try {
        child = await launchProcess(request, containment?.spawner).catch(async (error: unknown) => {
          if (!(error instanceof CgroupSetupFailed && error.code === 'ENOENT' && atFork && containment)) throw error;
          // The user's folder was removed from outside: the daemon makes it again, with its limits (same run folders).
          containment.cgroups.forgetUserFolders(spec.owner);
          cgroup = await containment.cgroups.createRunOffLoop(spec.owner, limits, identity.uuid);
          return launchProcess({ ...request, cgroup: undefined }, containment.spawner);
        });
      } catch (error) {
        launchError = error;
        if (error instanceof CgroupSetupFailed) throw new StartError(error.message);
        const reason = (error as Error).message;
        throw new StartError(`failed to start '${argv[0]}'${error instanceof SpawnFailed && reason === SPAWN_FAILED ? '' : `: ${reason}`}`);
      }
      placedBeforeExec = plan.placedBeforeExec;
      if (cgroup && !placedBeforeExec) cgroup.place(child.pid);
    } catch (error) {
      output?.discard();
      if (launchError instanceof SpawnOutcomeUnknown) void endUnreported(cgroup, identity.processKey, graceMs);
      else if (!(launchError instanceof CgroupSetupFailed)) void cgroup?.remove();
      throw error instanceof StartError ? error : new StartError((error as Error).message);
    }
    const run = new ProcessRun(spec, graceMs, identity, { process: child, cgroup, output, placedBeforeExec });
    // A daemon killed the moment after this start still leaves the record of what it started.
    await run.recorded;
    return run;
  }

  /** True while stdin accepts input (interactive runs). */
  get stdinOpen(): boolean {
    return this.process.stdinOpen && this.running;
  }

  /** Writes to an interactive run's stdin; `close` sends end-of-file afterwards. */
  async writeStdin(data: string | Buffer, close = false): Promise<void> {
    if (!this.stdinOpen) throw new Error('stdin is not open');
    await this.process.writeStdin(typeof data === 'string' ? Buffer.from(data) : data, close);
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Ends the whole tree like a crash would (no `deliberate` mark): exit actions still apply. */
  async kill(): Promise<RunExit> {
    return this.end();
  }

  /** Stops the whole tree (TERM, then KILL after the grace period); never triggers exit actions. */
  async stop(): Promise<RunExit> {
    if (!this.exit) this.deliberate = true;
    return this.end();
  }

  /** Resolves once the tree is gone (stopped now if it still runs) and its cgroup removed. */
  private async end(): Promise<RunExit> {
    if (!this.exit) await this.terminateTree();
    const exit = await this.exited;
    await this.released;
    return exit;
  }

  private terminateTree(): Promise<void> {
    this.terminating ??= this.tree.terminate(this.graceMs).then(() => undefined);
    return this.terminating;
  }

  /** The leader exited: what it left behind goes too, and the output is complete before the exit counts. */
  private async finish(status: ProcessExitStatus, drained: Promise<void>, output: OutputTarget | undefined): Promise<RunExit> {
    const { code, signal, lost } = status;
    const oomKilled = this.tree.oomKills() > 0;
    const peakMemoryBytes = this.tree.peakMemoryBytes();
    const cleared = this.tree.isEmpty() ? Promise.resolve() : this.terminateTree();
    let timer: NodeJS.Timeout | undefined;
    // A copy held up by the daemon itself (a busy host starting its copier thread) is waited for:
    // only a pipe that stays open without the tree is cut.
    const giveUp = cleared.then(
      () =>
        new Promise<boolean>((resolve) => {
          const check = () => (output?.waitingOnDaemon ? (timer = setTimeout(check, OUTPUT_DRAIN_MS)) : resolve(false));
          timer = setTimeout(check, OUTPUT_DRAIN_MS);
        }),
    );
    const complete = await Promise.race([drained.then(() => true), giveUp]);
    clearTimeout(timer);
    if (!complete) {
      // A process outside the tree holds the pipe open: the output ends here.
      output?.cut();
      await drained;
    }
    const exit: RunExit = {
      code: code ?? -(signal ? (osConstants.signals[signal] ?? 1) : 1),
      signal: signal ?? undefined,
      atMs: Date.now(),
      deliberate: this.deliberate,
      ...(lost ? { lost: `${lost}: its processes were ended` } : {}),
      ...(oomKilled ? { oomKilled } : {}),
      ...(peakMemoryBytes !== undefined ? { peakMemoryBytes } : {}),
    };
    this.exit = exit;
    this.released = cleared.then(() => this.tree.release()).then(() => this.forget?.());
    return exit;
  }
}

/**
 * A start whose spawner ended before it answered: whatever it may have forked is found through
 * the run's cgroup, or its key in the environment, and ended, so nothing runs unreported.
 */
async function endUnreported(cgroup: RunCgroup | undefined, processKey: string, graceMs: number): Promise<void> {
  if (cgroup) {
    await cgroup.killAll();
    await cgroup.remove();
    return;
  }
  const found = await findProcessesByEnv(PROCESS_KEY_ENV, (value) => (value === processKey ? 'run' : undefined));
  await terminatePids(found.get('run') ?? [], graceMs);
}

/**
 * The command's argv. When the daemon runs it as itself, a missing program is a start error as
 * it always was; as another user, the launcher finds it with that user's rights (the root daemon
 * does not probe paths for a user) and a missing one ends the run with 127.
 */
async function resolveCommand(spec: RunSpec): Promise<string[]> {
  if (spec.shell) {
    // A program and plain words start without bash, in the environment bash would give them.
    const direct = directStartOf(spec);
    if (!direct) return ['bash', '-c', spec.command];
    spec.env = direct.env;
    return direct.argv;
  }
  let argv: string[];
  try {
    argv = splitCommandLine(spec.command);
  } catch (error) {
    throw new StartError((error as Error).message);
  }
  if (argv.length === 0) throw new StartError('empty command');
  if (spec.user) return argv;
  const file = argv[0];
  if (file.includes('/')) {
    if (!(await isExecutableFile(resolve(spec.workingDir, file)))) throw new StartError(`'${file}' is not an executable file`);
  } else if ((await findInPath(spec.env.PATH ?? process.env.PATH ?? '', file)) === undefined) {
    throw new StartError(`failed to start '${file}': not found in PATH`);
  }
  return argv;
}

/**
 * Where bash is for a shell command the daemon runs as itself outside a sandbox (the launcher is
 * then bash itself), found in the command's PATH; undefined otherwise.
 */
async function findOwnBash(spec: RunSpec): Promise<string | undefined> {
  if (!spec.shell || spec.user || spec.sandboxArgv?.length || directStartOf(spec)) return undefined;
  const pathList = spec.env.PATH ?? process.env.PATH ?? '';
  // A relative folder would depend on the working directory: left to the launcher.
  if (pathList.split(delimiter).some((dir) => !dir.startsWith('/'))) return undefined;
  return findInPath(pathList, 'bash');
}

/** Where a program was last found, per PATH and name (bounded: forgotten all at once when full). */
const lastFound = new Map<string, string>();
const LAST_FOUND_MAX = 256;

/**
 * The first folder of `pathList` holding an executable `file`. Where it was found last is looked
 * at first, while it is still there, with one `stat` of a path the kernel has cached: cheaper on
 * the event loop than a round trip through the thread pool. Otherwise every PATH folder is
 * looked at in the thread pool at once.
 */
async function findInPath(pathList: string, file: string): Promise<string | undefined> {
  const key = `${pathList}\0${file}`;
  const known = lastFound.get(key);
  if (known !== undefined && isExecutableFileNow(known)) return known;
  const dirs = pathList.split(delimiter);
  const found = await Promise.all(dirs.map((dir) => (dir ? isExecutableFile(join(dir, file)) : false)));
  const index = found.indexOf(true);
  if (index < 0) {
    lastFound.delete(key);
    return undefined;
  }
  if (lastFound.size >= LAST_FOUND_MAX) lastFound.clear();
  const where = join(dirs[index], file);
  lastFound.set(key, where);
  return where;
}

const asRoot = process.getuid?.() === 0;

/** Checked off the event loop (a start looks in every PATH folder at once). */
async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const stats = await stat(file);
    if (!stats.isFile()) return false;
    // Root may execute a file with any execute bit: the mode says it, no second call needed.
    if (asRoot) return (stats.mode & 0o111) !== 0;
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** As isExecutableFile, on the event loop: for a path found a moment ago. */
function isExecutableFileNow(file: string): boolean {
  const stats = statSync(file, { throwIfNoEntry: false });
  if (!stats?.isFile()) return false;
  if (asRoot) return (stats.mode & 0o111) !== 0;
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}
