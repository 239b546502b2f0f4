import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, accessSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { randomBytes, randomUUID } from 'node:crypto';
import { splitCommandLine } from './command-line.js';
import { signalGroup, terminateGroup } from './process-group.js';

export interface RunSpec {
  command: string;
  shell: boolean;
  workingDir: string;
  env: Record<string, string>;
  /** Written to stdin, then closed; absent means stdin is /dev/null. */
  stdin?: string;
  /** Keep stdin open as a pipe for `writeStdin` (interactive programs). */
  interactive?: boolean;
  /** Descriptor of the output file: stdout and stderr both go there. */
  outputFd: number;
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
}

export interface RunExit {
  /** Exit status, or minus the signal number when a signal ended the process. */
  code: number;
  signal?: NodeJS.Signals;
  atMs: number;
  /** True when the daemon stopped the run (disable, timeout, delete...): no exit action. */
  deliberate: boolean;
}

export class StartError extends Error {}

/** One execution of a command, leading its own process group so the whole tree can be stopped. */
export class ProcessRun {
  readonly uuid = randomUUID();
  /** Secret of this run for the worker side of the task API. */
  readonly processKey = randomBytes(24).toString('base64url');
  readonly startedAtMs = Date.now();
  readonly pid: number;
  /** The OS account it runs as when the daemon switched users. */
  readonly user?: string;
  readonly exited: Promise<RunExit>;
  exit?: RunExit;
  private deliberate = false;
  private readonly child: ChildProcess;

  private constructor(spec: RunSpec, private readonly graceMs: number) {
    const { file, args } = resolveCommand(spec.command, spec.shell);
    this.user = spec.user?.name;
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        cwd: spec.workingDir,
        env: { ...spec.env, APP_MESH_PROCESS_KEY: this.processKey },
        stdio: [spec.stdin === undefined && !spec.interactive ? 'ignore' : 'pipe', spec.outputFd, spec.outputFd],
        // setsid(): the child leads a new session and process group.
        detached: true,
        ...(spec.user ? { uid: spec.user.uid, gid: spec.user.gid } : {}),
      });
    } finally {
      // The child holds its own copy of the descriptor.
      closeSync(spec.outputFd);
    }
    if (child.pid === undefined) {
      child.on('error', () => undefined);
      throw new StartError(`failed to start '${file}'`);
    }
    this.child = child;
    this.pid = child.pid;
    if (child.stdin) {
      // A process that never reads its stdin must not crash the daemon with EPIPE.
      child.stdin.on('error', () => undefined);
      if (spec.interactive) {
        if (spec.stdin !== undefined) child.stdin.write(spec.stdin);
      } else {
        child.stdin.end(spec.stdin);
      }
    }
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        const exit: RunExit = {
          code: code ?? -(signal ? (osConstants.signals[signal] ?? 1) : 1),
          signal: signal ?? undefined,
          atMs: Date.now(),
          deliberate: this.deliberate,
        };
        this.exit = exit;
        // The leader is gone; what it left behind in its group goes with it.
        if (signalGroup(this.pid, 0)) void terminateGroup(this.pid, this.graceMs);
        resolve(exit);
      });
    });
    child.on('error', () => undefined);
  }

  static start(spec: RunSpec, graceMs: number): ProcessRun {
    return new ProcessRun(spec, graceMs);
  }

  /** True while stdin accepts input (interactive runs). */
  get stdinOpen(): boolean {
    return Boolean(this.child.stdin?.writable) && this.running;
  }

  /** Writes to an interactive run's stdin; `close` sends end-of-file afterwards. */
  async writeStdin(data: string | Buffer, close = false): Promise<void> {
    const stdin = this.child.stdin;
    if (!stdin || !stdin.writable) throw new Error('stdin is not open');
    await new Promise<void>((resolve, reject) => stdin.write(data, (error) => (error ? reject(error) : resolve())));
    if (close) stdin.end();
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Ends the whole tree like a crash would (no `deliberate` mark): exit actions still apply. */
  async kill(): Promise<RunExit> {
    if (this.exit) return this.exit;
    await terminateGroup(this.pid, this.graceMs);
    return this.exited;
  }

  /** Stops the whole tree (TERM, then KILL after the grace period); never triggers exit actions. */
  async stop(): Promise<RunExit> {
    if (this.exit) return this.exit;
    this.deliberate = true;
    await terminateGroup(this.pid, this.graceMs);
    return this.exited;
  }
}

function resolveCommand(command: string, shell: boolean): { file: string; args: string[] } {
  if (shell) return { file: 'bash', args: ['-c', command] };
  let argv: string[];
  try {
    argv = splitCommandLine(command);
  } catch (error) {
    throw new StartError((error as Error).message);
  }
  if (argv.length === 0) throw new StartError('empty command');
  const [file, ...args] = argv;
  if (file.includes('/')) {
    try {
      if (!statSync(file).isFile()) throw new Error();
      accessSync(file, fsConstants.X_OK);
    } catch {
      throw new StartError(`'${file}' is not an executable file`);
    }
  }
  return { file, args };
}
