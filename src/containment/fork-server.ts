import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Socket } from 'node:net';
import { BackendRuns } from './backend-runs.js';
import { CgroupSetupFailed, SpawnFailed, StdioRefused, type SpawnRequest, type SpawnedProcess, type SpawnerBackend } from './spawn-request.js';

const REPORT_BYTES = 16;
/** The server refuses larger requests (native/fork-server.c MAX_REQUEST): no exec takes that much. */
const MAX_REQUEST_BYTES = 16 * 1024 * 1024;
const REQUEST_START = 1;
const REQUEST_REMOVE = 2;
const enum Report {
  Ready = 0,
  Started = 1,
  Failed = 2,
  Exit = 3,
  Removed = 4,
}
/** Where a failed start stopped (native/fork-server.c). */
const STAGE_STDOUT = 1;
const STAGE_FORK = 2;
const STAGE_CGROUP = 4;
const FLAG_LAUNCHER_STEPS = 1;

/** NUL characters in `text`. */
function countNul(text: string): number {
  let count = 0;
  for (let at = text.indexOf('\0'); at >= 0; at = text.indexOf('\0', at + 1)) count++;
  return count;
}

const SIGNAL_NAMES = new Map(Object.entries(osConstants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));
const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, number]) => [number, name]));

/**
 * The daemon's side of the native fork server (`appmesh-launch --serve`, native/fork-server.c): a
 * small C process that forks each run (its few hundred kilobytes are cheap to copy) and, for a
 * launch of appmesh-launch, runs the launcher's steps in the forked child: one exec per run, the
 * command's. Requests and reports are binary frames on its stdin and stdout. Runs given stdin go
 * through the Node spawner instead, which keeps their pipes.
 */
export class ForkServerProcess extends BackendRuns implements SpawnerBackend {
  readonly ready: Promise<void>;
  wasReady = false;
  private readonly child: ChildProcess;
  private pending: Buffer = Buffer.alloc(0);
  private readonly files = new Map<number, string>();
  /** Folder removals in flight: true once removed, false while the kernel refuses (busy). */
  private readonly removals = new Map<number, (removed: boolean | undefined) => void>();
  /** Removal requests to send after this turn of the loop. */
  private readonly queuedRemovals: Buffer[] = [];

  constructor(
    /** appmesh-launch: the server, and the launcher whose steps it runs in place of executing it. */
    private readonly program: string,
    private readonly onEnd: (reason: string) => void,
  ) {
    super();
    this.child = spawn(program, ['--serve'], {
      // Its own session: a terminal's signals to the daemon's group do not end it; the end of its
      // stdin (the daemon gone) does.
      detached: true,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: {},
    });
    const { ready, markReady } = BackendRuns.readiness(this.child);
    this.ready = ready;
    this.child.stdout!.on('data', (chunk: Buffer) => this.receive(chunk, () => {
      this.wasReady = true;
      markReady();
    }));
    this.child.stdin!.on('error', (error) => this.end(`channel error: ${error.message}`));
    this.watchProcess(this.child, (reason) => this.end(reason));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  start(request: SpawnRequest): Promise<SpawnedProcess> {
    if (this.gone) return Promise.reject(new SpawnFailed('the process spawner ended'));
    if (request.stdin !== 'ignore') return Promise.reject(new SpawnFailed('the fork server does not keep stdin pipes'));
    const launcherSteps = request.file === this.program;
    // The strings in the order of the request, gathered in one array (a start's request is on every run's path).
    const strings = [request.file, request.cwd, launcherSteps ? 'appmesh-launch' : request.file];
    for (const arg of request.args) strings.push(arg);
    const argc = request.args.length + 1;
    for (const name in request.env) strings.push(`${name}=${request.env[name]}`);
    const envc = strings.length - 2 - argc;
    const folders = request.cgroup?.folders ?? [];
    const writes = request.cgroup?.writes ?? [];
    for (const folder of folders) strings.push(folder);
    for (const [file, value] of writes) strings.push(file, value);
    const text = strings.join('\0');
    // As Node's spawn refuses them: a NUL would cut a string short.
    if (countNul(text) !== strings.length - 1) return Promise.reject(new SpawnFailed('arguments, variables and the working folder must not contain NUL bytes'));
    const { id, started } = this.expectStart();
    this.files.set(id, request.file);
    try {
      const frame = this.frame(REQUEST_START, [id, launcherSteps ? FLAG_LAUNCHER_STEPS : 0, request.stdoutFd ?? -1, request.uid ?? -1, request.gid ?? -1, argc, envc, folders.length, writes.length], text, strings.length);
      // Removals waiting for their turn go in the same write, after the start.
      this.child.stdin!.write(this.queuedRemovals.length ? Buffer.concat([frame, ...this.queuedRemovals.splice(0)]) : frame);
    } catch (error) {
      this.files.delete(id);
      this.failed(id, error as Error);
    }
    // Reported once the child ran its command: the launcher's steps (its cgroup entry) are done.
    return started.then(({ pid, entry }) => BackendRuns.withoutStdin(pid, entry, true));
  }

  /** Removes an ended run's cgroup folders: true once removed, false while busy, undefined when the server is gone. */
  removeFolders(folders: string[]): Promise<boolean | undefined> {
    if (this.gone) return Promise.resolve(undefined);
    const id = this.nextRequestId();
    const removed = new Promise<boolean | undefined>((resolve) => this.removals.set(id, resolve));
    this.holdWhileBusy();
    // Sent after this turn of the loop (with the starts and removals of the same turn): a run's
    // end answers its caller first, and one write wakes the server for all of them.
    this.queuedRemovals.push(this.frame(REQUEST_REMOVE, [id, folders.length], folders.join('\0'), folders.length));
    if (this.queuedRemovals.length === 1) setImmediate(() => this.sendQueuedRemovals());
    return removed;
  }

  private sendQueuedRemovals(): void {
    if (this.gone || this.queuedRemovals.length === 0) return;
    const frames = this.queuedRemovals.splice(0);
    this.child.stdin!.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  close(): void {
    if (this.gone) return;
    this.sendQueuedRemovals();
    // The server ends when its stdin does; a daemon going down stopped its runs already.
    this.child.stdin!.end();
    this.end('closed');
  }

  protected override otherBusy(): number {
    return this.removals.size;
  }

  /**
   * One request: its kind, its header words (signed or not, each 4 bytes), then `text`: its
   * `count` strings joined by NULs, one NUL ending the last.
   */
  private frame(kind: number, words: number[], text: string, count: number): Buffer {
    const headerLength = 8 + words.length * 4;
    const textLength = count > 0 ? Buffer.byteLength(text) + 1 : 0;
    // Refused by the server too; checked here so the request is never sent.
    if (headerLength + textLength > MAX_REQUEST_BYTES) throw new SpawnFailed(`arguments and environment too large (${textLength} bytes)`);
    const frame = Buffer.allocUnsafe(headerLength + textLength);
    frame.writeUInt32LE(frame.length - 4, 0);
    frame.writeUInt32LE(kind, 4);
    for (let index = 0; index < words.length; index++) {
      const word = words[index];
      if (word < 0) frame.writeInt32LE(word, 8 + index * 4);
      else frame.writeUInt32LE(word, 8 + index * 4);
    }
    if (count > 0) {
      frame.write(text, headerLength);
      frame[frame.length - 1] = 0;
    }
    return frame;
  }

  protected hold(busy: boolean): void {
    const stdout = this.child?.stdout as Socket | null | undefined;
    if (busy) stdout?.ref();
    else stdout?.unref();
  }

  private receive(chunk: Buffer, onReady: () => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    for (; offset + REPORT_BYTES <= this.pending.length; offset += REPORT_BYTES) {
      const kind = this.pending.readInt32LE(offset);
      const id = this.pending.readInt32LE(offset + 4);
      const a = this.pending.readInt32LE(offset + 8);
      const b = this.pending.readInt32LE(offset + 12);
      if (kind === Report.Ready) onReady();
      else if (kind === Report.Started) {
        this.files.delete(id);
        this.started(id, a);
      } else if (kind === Report.Failed) {
        const file = this.files.get(id) ?? '';
        this.files.delete(id);
        const code = ERRNO_NAMES.get(a) ?? `errno ${a}`;
        if (b === STAGE_STDOUT) this.failed(id, new StdioRefused(`cannot open the output pipe: ${code}`));
        else if (b === STAGE_CGROUP) this.failed(id, new CgroupSetupFailed(code));
        else this.failed(id, new SpawnFailed(b === STAGE_FORK ? `fork: ${code}` : `spawn ${file} ${code}`));
      } else if (kind === Report.Exit) this.exited(id, { code: a >= 0 ? a : null, signal: b ? (SIGNAL_NAMES.get(b) ?? null) : null });
      else if (kind === Report.Removed) {
        const resolve = this.removals.get(id);
        this.removals.delete(id);
        resolve?.(a === 0);
        this.holdWhileBusy();
      }
    }
    this.pending = this.pending.subarray(offset);
  }

  private end(reason: string): void {
    if (!this.endRuns(reason)) return;
    this.files.clear();
    for (const resolve of this.removals.values()) resolve(undefined);
    this.removals.clear();
    this.holdWhileBusy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.onEnd(reason);
  }
}
