import { spawn, type ChildProcess } from 'node:child_process';
import { BackendRuns, type RunningEntry } from './backend-runs.js';
import { SpawnFailed, StdioRefused, type ProcessExitStatus, type SpawnRequest, type SpawnedProcess, type SpawnerBackend } from './spawn-request.js';
import { SPAWNER_PROGRAM } from './spawner-program.js';

/** A small heap: the spawner holds a few maps of running processes, nothing else. */
const SPAWNER_HEAP_MB = 32;

type FromSpawner =
  | { t: 'ready' }
  | { t: 'started'; id: number; pid: number }
  | { t: 'failed'; id: number; message: string; stdio: boolean }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'stdin-done'; id: number; seq: number; error?: string };

/**
 * The Node spawner: a small Node process (spawner-program.ts) that forks every run it is sent and
 * keeps the stdin pipes of interactive runs. It is what starts runs where the native fork server
 * was not built, and runs that are given stdin.
 */
export class NodeSpawnerProcess extends BackendRuns implements SpawnerBackend {
  readonly ready: Promise<void>;
  wasReady = false;
  private readonly child: ChildProcess;
  private nextSeq = 1;
  private readonly writes = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  constructor(private readonly onEnd: (reason: string) => void) {
    super();
    this.child = spawn(process.execPath, [`--max-old-space-size=${SPAWNER_HEAP_MB}`, '-e', SPAWNER_PROGRAM], {
      // Its own session: a terminal's signals to the daemon's group do not end it; the closed
      // channel (the daemon gone) does.
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    const { ready, markReady } = BackendRuns.readiness(this.child);
    this.ready = ready;
    this.child.once('message', (message: FromSpawner) => {
      if (message.t !== 'ready') return;
      this.wasReady = true;
      markReady();
    });
    this.child.on('message', (message: FromSpawner) => this.receive(message));
    // Its channel holds the daemon while a start, a run or a write is in flight.
    this.watchProcess(this.child, (reason) => this.end(reason));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  start(request: SpawnRequest): Promise<SpawnedProcess> {
    if (this.gone) return Promise.reject(new SpawnFailed('the process spawner ended'));
    const { id, started } = this.expectStart();
    this.send({
      t: 'start',
      id,
      file: request.file,
      args: request.args,
      env: request.env,
      cwd: request.cwd,
      uid: request.uid,
      gid: request.gid,
      stdout: request.stdoutFd ?? null,
      stdin: request.stdin,
      input: request.input,
      keepStdinOpen: request.keepStdinOpen ?? false,
    });
    const keepStdinOpen = request.stdin === 'pipe' && (request.keepStdinOpen ?? false);
    return started.then(({ pid, entry }) => (keepStdinOpen ? this.withStdin(id, pid, entry) : BackendRuns.withoutStdin(pid, entry)));
  }

  close(): void {
    if (this.gone) return;
    // The spawner ends when its channel closes; a daemon going down stopped its runs already.
    if (this.child.connected) this.child.disconnect();
    this.end('closed');
  }

  protected override otherBusy(): number {
    return this.writes.size;
  }

  protected hold(busy: boolean): void {
    const channel = (this.child as ChildProcess & { channel?: { ref?: () => void; unref?: () => void } } | undefined)?.channel;
    if (busy) channel?.ref?.();
    else channel?.unref?.();
  }

  private withStdin(id: number, pid: number, entry: RunningEntry): SpawnedProcess {
    const writeStdin = (data: Buffer, end: boolean): Promise<void> => {
      if (!entry.stdinOpen || this.gone) return Promise.reject(new Error('stdin is not open'));
      if (end) entry.stdinOpen = false;
      const seq = this.nextSeq++;
      const done = new Promise<void>((resolve, reject) => this.writes.set(seq, { resolve, reject }));
      this.holdWhileBusy();
      this.send({ t: 'stdin', id, seq, data: data.toString('base64'), end });
      return done;
    };
    return {
      pid,
      exited: entry.exited,
      get stdinOpen() {
        return entry.stdinOpen;
      },
      writeStdin,
    };
  }

  private receive(message: FromSpawner): void {
    switch (message.t) {
      case 'started':
        this.started(message.id, message.pid);
        break;
      case 'failed':
        this.failed(message.id, message.stdio ? new StdioRefused(message.message) : new SpawnFailed(message.message));
        break;
      case 'exit':
        this.exited(message.id, { code: message.code, signal: message.signal } satisfies ProcessExitStatus);
        break;
      case 'stdin-done': {
        const waiter = this.writes.get(message.seq);
        this.writes.delete(message.seq);
        if (message.error) waiter?.reject(new Error(message.error));
        else waiter?.resolve();
        this.holdWhileBusy();
        break;
      }
    }
  }

  private send(message: Record<string, unknown>): void {
    try {
      this.child.send(message, (error) => {
        if (error) this.end(`channel error: ${error.message}`);
      });
    } catch (error) {
      this.end(`channel error: ${(error as Error).message}`);
    }
  }

  private end(reason: string): void {
    if (!this.endRuns(reason)) return;
    for (const waiter of this.writes.values()) waiter.reject(new Error('stdin is not open'));
    this.writes.clear();
    this.holdWhileBusy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.onEnd(reason);
  }
}
