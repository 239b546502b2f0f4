import type { ChildProcess } from 'node:child_process';
import { SpawnOutcomeUnknown, type ProcessExitStatus, type SpawnedProcess } from './spawn-request.js';

/** A spawner process that has not said it is ready by then is given up. */
const READY_TIMEOUT_MS = 15_000;

interface RunningEntry {
  readonly exited: Promise<ProcessExitStatus>;
  resolveExit: (status: ProcessExitStatus) => void;
  stdinOpen: boolean;
}

/**
 * The starts and runs in flight with one spawner process, by request id: what both kinds of
 * spawner report (started, failed, exit), and what everything in flight learns when it ends.
 */
export abstract class BackendRuns {
  protected gone = false;
  private nextId = 1;
  private readonly starting = new Map<number, { resolve: (started: { pid: number; entry: RunningEntry }) => void; reject: (error: Error) => void }>();
  private readonly running = new Map<number, RunningEntry>();

  /** The process is needed (something in flight) or not: it holds the daemon's event loop only while needed. */
  protected abstract hold(busy: boolean): void;

  /** Whatever else is in flight besides starts and runs (stdin writes), for `hold`. */
  protected otherBusy(): number {
    return 0;
  }

  /**
   * Settles once `child` says it is ready (`markReady`); rejects when it fails to start, ends or
   * stays silent. Never an unhandled rejection: start() observes it.
   */
  protected static readiness(child: ChildProcess): { ready: Promise<void>; markReady: () => void } {
    let readyTimer: NodeJS.Timeout | undefined;
    let markReady!: () => void;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      child.once('error', reject);
      child.once('exit', (code, signal) => reject(new Error(`exited with ${signal ?? code}`)));
      readyTimer = setTimeout(() => reject(new Error('not ready in time')), READY_TIMEOUT_MS);
    }).finally(() => clearTimeout(readyTimer));
    ready.catch(() => undefined);
    return { ready, markReady };
  }

  /**
   * The spawner process's own end (its exit; a failed spawn is seen by `readiness`) reaches
   * `end`, and the process never keeps the daemon alive by itself: what is in flight does
   * (`hold`), as a process forked by the daemon would.
   */
  protected watchProcess(child: ChildProcess, end: (reason: string) => void): void {
    child.on('error', () => undefined);
    child.once('exit', (code, signal) => end(`exit ${signal ?? code}`));
    child.unref();
    this.holdWhileBusy();
  }

  /** An id no other request of this process has. */
  protected nextRequestId(): number {
    return this.nextId++;
  }

  /** A new request id, and the promise its 'started' or 'failed' settles. */
  protected expectStart(): { id: number; started: Promise<{ pid: number; entry: RunningEntry }> } {
    const id = this.nextRequestId();
    const started = new Promise<{ pid: number; entry: RunningEntry }>((resolve, reject) => this.starting.set(id, { resolve, reject }));
    this.holdWhileBusy();
    return { id, started };
  }

  /** The exit entry is made when 'started' arrives, so an exit that follows at once is never missed. */
  protected started(id: number, pid: number): void {
    const waiter = this.starting.get(id);
    this.starting.delete(id);
    let resolveExit!: (status: ProcessExitStatus) => void;
    const exited = new Promise<ProcessExitStatus>((resolve) => (resolveExit = resolve));
    // Open until the exit (or the end the daemon asks for) when it was asked to stay open.
    const entry: RunningEntry = { exited, resolveExit, stdinOpen: true };
    this.running.set(id, entry);
    waiter?.resolve({ pid, entry });
    this.holdWhileBusy();
  }

  protected failed(id: number, error: Error): void {
    const waiter = this.starting.get(id);
    this.starting.delete(id);
    waiter?.reject(error);
    this.holdWhileBusy();
  }

  protected exited(id: number, status: ProcessExitStatus): void {
    const entry = this.running.get(id);
    this.running.delete(id);
    if (entry) {
      entry.stdinOpen = false;
      entry.resolveExit(status);
    }
    this.holdWhileBusy();
  }

  /** A started process without stdin writes; `reportedAtExec` when its start is reported once its command runs. */
  protected static withoutStdin(pid: number, entry: RunningEntry, reportedAtExec = false): SpawnedProcess {
    entry.stdinOpen = false;
    return { pid, exited: entry.exited, stdinOpen: false, writeStdin: () => Promise.reject(new Error('stdin is not open')), reportedAtExec };
  }

  /** Everything in flight learns the spawner is gone, once; true the first time. */
  protected endRuns(reason: string): boolean {
    if (this.gone) return false;
    this.gone = true;
    for (const waiter of this.starting.values()) waiter.reject(new SpawnOutcomeUnknown(`the process spawner ended during the start (${reason})`));
    this.starting.clear();
    for (const entry of this.running.values()) {
      entry.stdinOpen = false;
      entry.resolveExit({ code: null, signal: null, lost: `the process spawner ended (${reason})` });
    }
    this.running.clear();
    return true;
  }

  protected holdWhileBusy(): void {
    this.hold(this.starting.size + this.running.size + this.otherBusy() > 0 && !this.gone);
  }
}

export type { RunningEntry };
