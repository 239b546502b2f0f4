import { spawn, type ChildProcess } from 'node:child_process';
import { SPAWNER_PROGRAM } from './spawner-program.js';

/** What to start: the launcher's file and argv, already planned (cgroup entry, privilege drop, sandbox). */
export interface SpawnRequest {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
  /** The daemon's descriptor of the output pipe's write end; absent: output is discarded. */
  stdoutFd?: number;
  /** 'pipe' when the process gets `input` or stays open for writes (`keepStdinOpen`). */
  stdin: 'ignore' | 'pipe';
  input?: string;
  keepStdinOpen?: boolean;
}

export interface ProcessExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the exit could not be observed (the spawner ended): the run's tree must be ended by its owner. */
  lost?: string;
}

/** A started process, wherever it was forked. */
export interface SpawnedProcess {
  readonly pid: number;
  /** Resolves once with the leader's exit, awaited (never polled). */
  readonly exited: Promise<ProcessExitStatus>;
  /** True while stdin accepts writes. */
  readonly stdinOpen: boolean;
  /** Writes to stdin; `end` closes it afterwards. Rejects when it is not open or the write failed. */
  writeStdin(data: Buffer, end: boolean): Promise<void>;
}

/** The spawner cannot be used: the caller starts the process itself. */
export class SpawnerUnavailable extends Error {}
/** The start itself failed (the same failure an in-process spawn would have). */
export class SpawnFailed extends Error {}
/** The spawner ended while a start was in flight: a process may have been forked, unreported. */
export class SpawnOutcomeUnknown extends SpawnFailed {}

/** Deaths within this window that make the daemon give the spawner up and fork by itself. */
const DEATH_WINDOW_MS = 60_000;
const MAX_DEATHS = 5;
const READY_TIMEOUT_MS = 15_000;
/** The message of a start that produced no process (as an in-process spawn reports it). */
export const SPAWN_FAILED = 'spawn failed';

/** A small heap: the spawner holds a few maps of running processes, nothing else. */
const SPAWNER_HEAP_MB = 32;

type Log = (level: 'info' | 'warn', message: string) => void;

type FromSpawner =
  | { t: 'ready' }
  | { t: 'started'; id: number; pid: number }
  | { t: 'failed'; id: number; message: string; stdio: boolean }
  | { t: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null }
  | { t: 'stdin-done'; id: number; seq: number; error?: string };

/**
 * The daemon's side of the process spawner: a small Node process that forks and executes every
 * run, so `fork()` (whose cost grows with the daemon's memory) never stops the daemon's event
 * loop. It reports each pid, then each exit. When it dies, the runs it started are reported lost
 * (their owners end their trees) and a new spawner starts; when it cannot be used at all, the
 * daemon forks by itself, with a warning.
 */
export class Spawner {
  private current?: SpawnerProcess;
  private unavailable?: string;
  private readonly deaths: number[] = [];
  private closed = false;

  constructor(private readonly log: Log) {
    this.current = this.launch();
  }

  /** Why the spawner is not used (the daemon forks by itself), or undefined while it is. */
  get disabledReason(): string | undefined {
    return this.unavailable;
  }

  /** The running spawner's pid. */
  get pid(): number | undefined {
    return this.current?.pid;
  }

  async start(request: SpawnRequest): Promise<SpawnedProcess> {
    if (this.unavailable || this.closed) throw new SpawnerUnavailable(this.unavailable ?? 'closed');
    const spawner = (this.current ??= this.launch());
    try {
      await spawner.ready;
    } catch (error) {
      this.disable(`the process spawner did not start (${(error as Error).message})`);
      throw new SpawnerUnavailable((error as Error).message);
    }
    try {
      return await spawner.start(request);
    } catch (error) {
      if (error instanceof StdioRefused) {
        this.disable(`the process spawner cannot take over output pipes (${error.message})`);
        throw new SpawnerUnavailable(error.message);
      }
      throw error;
    }
  }

  close(): void {
    this.closed = true;
    this.current?.close();
    this.current = undefined;
  }

  private launch(): SpawnerProcess {
    const spawner = new SpawnerProcess((reason) => this.ended(spawner, reason));
    return spawner;
  }

  private ended(spawner: SpawnerProcess, reason: string): void {
    if (this.current !== spawner || this.closed) return;
    this.current = undefined;
    if (!spawner.wasReady) return; // start() reports it and disables.
    const now = Date.now();
    this.deaths.push(now);
    while (this.deaths.length > 0 && this.deaths[0] < now - DEATH_WINDOW_MS) this.deaths.shift();
    if (this.deaths.length >= MAX_DEATHS) {
      this.disable(`the process spawner ended ${this.deaths.length} times within a minute (last: ${reason})`);
      return;
    }
    this.log('warn', `the process spawner ended (${reason}); its runs are ended, a new spawner starts`);
    this.current = this.launch();
  }

  private disable(reason: string): void {
    if (this.unavailable) return;
    this.unavailable = reason;
    this.current?.close();
    this.current = undefined;
    this.log('warn', `${reason}: processes are started by the daemon itself, which pauses it at each start`);
  }
}

class StdioRefused extends Error {}

interface RunningEntry {
  readonly exited: Promise<ProcessExitStatus>;
  resolveExit: (status: ProcessExitStatus) => void;
  stdinOpen: boolean;
}

/** One spawner process and the requests in flight with it. */
class SpawnerProcess {
  readonly ready: Promise<void>;
  wasReady = false;
  private readonly child: ChildProcess;
  private nextId = 1;
  private nextSeq = 1;
  private readonly starting = new Map<number, { resolve: (started: { pid: number; entry: RunningEntry }) => void; reject: (error: Error) => void }>();
  private readonly running = new Map<number, RunningEntry>();
  private readonly writes = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private gone = false;

  constructor(private readonly onEnd: (reason: string) => void) {
    this.child = spawn(process.execPath, [`--max-old-space-size=${SPAWNER_HEAP_MB}`, '-e', SPAWNER_PROGRAM], {
      // Its own session: a terminal's signals to the daemon's group do not end it; the closed
      // channel (the daemon gone) does.
      detached: true,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    let readyTimer: NodeJS.Timeout | undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      this.child.once('message', (message: FromSpawner) => {
        if (message.t !== 'ready') return reject(new Error('unexpected first message'));
        this.wasReady = true;
        resolve();
      });
      this.child.once('error', reject);
      this.child.once('exit', (code, signal) => reject(new Error(`exited with ${signal ?? code}`)));
      readyTimer = setTimeout(() => reject(new Error('not ready in time')), READY_TIMEOUT_MS);
    }).finally(() => clearTimeout(readyTimer));
    // Observed by start(); never an unhandled rejection.
    this.ready.catch(() => undefined);
    this.child.on('message', (message: FromSpawner) => this.receive(message));
    this.child.on('error', () => undefined);
    this.child.once('exit', (code, signal) => this.end(`exit ${signal ?? code}`));
    // The spawner never keeps the daemon's process alive by itself; its channel does while
    // something is in flight (a start, a run, a write), as the process would if forked here.
    this.child.unref();
    this.holdWhileBusy();
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  start(request: SpawnRequest): Promise<SpawnedProcess> {
    if (this.gone) return Promise.reject(new SpawnFailed('the process spawner ended'));
    const id = this.nextId++;
    const started = new Promise<{ pid: number; entry: RunningEntry }>((resolve, reject) => this.starting.set(id, { resolve, reject }));
    this.holdWhileBusy();
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
    return started.then(({ pid, entry }) => this.spawned(id, pid, entry, request.stdin === 'pipe' && (request.keepStdinOpen ?? false)));
  }

  close(): void {
    if (this.gone) return;
    // The spawner ends when its channel closes; a daemon going down stopped its runs already.
    if (this.child.connected) this.child.disconnect();
    this.end('closed');
  }

  /** The exit entry was made when 'started' arrived, so an exit that follows at once is never missed. */
  private spawned(id: number, pid: number, entry: RunningEntry, keepStdinOpen: boolean): SpawnedProcess {
    if (!keepStdinOpen) entry.stdinOpen = false;
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
    this.dispatch(message);
    this.holdWhileBusy();
  }

  private dispatch(message: FromSpawner): void {
    switch (message.t) {
      case 'started': {
        const waiter = this.starting.get(message.id);
        this.starting.delete(message.id);
        let resolveExit!: (status: ProcessExitStatus) => void;
        const exited = new Promise<ProcessExitStatus>((resolve) => (resolveExit = resolve));
        // Open until the exit (or the end the daemon asks for) when it was asked to stay open.
        const entry: RunningEntry = { exited, resolveExit, stdinOpen: true };
        this.running.set(message.id, entry);
        waiter?.resolve({ pid: message.pid, entry });
        break;
      }
      case 'failed': {
        const waiter = this.starting.get(message.id);
        this.starting.delete(message.id);
        waiter?.reject(message.stdio ? new StdioRefused(message.message) : new SpawnFailed(message.message));
        break;
      }
      case 'exit': {
        const entry = this.running.get(message.id);
        this.running.delete(message.id);
        if (entry) {
          entry.stdinOpen = false;
          entry.resolveExit({ code: message.code, signal: message.signal });
        }
        break;
      }
      case 'stdin-done': {
        const waiter = this.writes.get(message.seq);
        this.writes.delete(message.seq);
        if (message.error) waiter?.reject(new Error(message.error));
        else waiter?.resolve();
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

  /** Everything in flight learns the spawner is gone, once. */
  private end(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    for (const waiter of this.starting.values()) waiter.reject(new SpawnOutcomeUnknown(`the process spawner ended during the start (${reason})`));
    this.starting.clear();
    for (const entry of this.running.values()) {
      entry.stdinOpen = false;
      entry.resolveExit({ code: null, signal: null, lost: `the process spawner ended (${reason})` });
    }
    this.running.clear();
    for (const waiter of this.writes.values()) waiter.reject(new Error('stdin is not open'));
    this.writes.clear();
    this.holdWhileBusy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.onEnd(reason);
  }

  private holdWhileBusy(): void {
    const channel = (this.child as ChildProcess & { channel?: { ref?: () => void; unref?: () => void } }).channel;
    if (this.starting.size + this.running.size + this.writes.size > 0 && !this.gone) channel?.ref?.();
    else channel?.unref?.();
  }
}
