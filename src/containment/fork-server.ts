import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Socket } from 'node:net';
import { BackendRuns } from './backend-runs.js';
import { SpawnFailed, StdioRefused, type SpawnRequest, type SpawnedProcess, type SpawnerBackend } from './spawn-request.js';

const READY_TIMEOUT_MS = 15_000;
const REPORT_BYTES = 16;
const HEADER_WORDS = 7;
const enum Report {
  Ready = 0,
  Started = 1,
  Failed = 2,
  Exit = 3,
}
/** Where a failed start stopped (native/fork-server.c). */
const STAGE_STDOUT = 1;
const STAGE_FORK = 2;
const FLAG_LAUNCHER_STEPS = 1;

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
    let readyTimer: NodeJS.Timeout | undefined;
    let markReady!: () => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => reject(new Error(`exited with ${signal ?? code}`)));
      readyTimer = setTimeout(() => reject(new Error('not ready in time')), READY_TIMEOUT_MS);
    }).finally(() => clearTimeout(readyTimer));
    this.ready.catch(() => undefined);
    this.child.stdout!.on('data', (chunk: Buffer) => this.receive(chunk, () => {
      this.wasReady = true;
      markReady();
    }));
    this.child.stdin!.on('error', (error) => this.end(`channel error: ${error.message}`));
    this.child.on('error', () => undefined);
    this.child.once('exit', (code, signal) => this.end(`exit ${signal ?? code}`));
    this.child.unref();
    this.holdWhileBusy();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  start(request: SpawnRequest): Promise<SpawnedProcess> {
    if (this.gone) return Promise.reject(new SpawnFailed('the process spawner ended'));
    if (request.stdin !== 'ignore') return Promise.reject(new SpawnFailed('the fork server does not keep stdin pipes'));
    const launcherSteps = request.file === this.program;
    const argv = launcherSteps ? ['appmesh-launch', ...request.args] : [request.file, ...request.args];
    const env = Object.entries(request.env).map(([name, value]) => `${name}=${value}`);
    const strings = [request.file, request.cwd, ...argv, ...env];
    // As Node's spawn refuses them: a NUL would cut the string short.
    if (strings.some((text) => text.includes('\0'))) return Promise.reject(new SpawnFailed('arguments, variables and the working folder must not contain NUL bytes'));
    const body = Buffer.from(`${strings.join('\0')}\0`);
    const header = Buffer.alloc(4 + HEADER_WORDS * 4);
    const { id, started } = this.expectStart();
    header.writeUInt32LE(header.length - 4 + body.length, 0);
    header.writeUInt32LE(id, 4);
    header.writeUInt32LE(launcherSteps ? FLAG_LAUNCHER_STEPS : 0, 8);
    header.writeInt32LE(request.stdoutFd ?? -1, 12);
    header.writeInt32LE(request.uid ?? -1, 16);
    header.writeInt32LE(request.gid ?? -1, 20);
    header.writeUInt32LE(argv.length, 24);
    header.writeUInt32LE(env.length, 28);
    this.files.set(id, request.file);
    this.child.stdin!.write(Buffer.concat([header, body]));
    return started.then(({ pid, entry }) => BackendRuns.withoutStdin(pid, entry));
  }

  close(): void {
    if (this.gone) return;
    // The server ends when its stdin does; a daemon going down stopped its runs already.
    this.child.stdin!.end();
    this.end('closed');
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
        else this.failed(id, new SpawnFailed(b === STAGE_FORK ? `fork: ${code}` : `spawn ${file} ${code}`));
      } else if (kind === Report.Exit) this.exited(id, { code: a >= 0 ? a : null, signal: b ? (SIGNAL_NAMES.get(b) ?? null) : null });
    }
    this.pending = this.pending.subarray(offset);
  }

  private end(reason: string): void {
    if (!this.endRuns(reason)) return;
    this.files.clear();
    this.holdWhileBusy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.onEnd(reason);
  }
}
