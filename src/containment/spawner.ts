import { makeCgroupHere } from './cgroup-at-fork.js';
import { ForkServerProcess } from './fork-server.js';
import { NodeSpawnerProcess } from './node-spawner.js';
import { SpawnerUnavailable, StdioRefused, type SpawnRequest, type SpawnedProcess, type SpawnerBackend } from './spawn-request.js';

export { CgroupSetupFailed, SPAWN_FAILED, SpawnFailed, SpawnOutcomeUnknown, SpawnerUnavailable, type ProcessExitStatus, type SpawnRequest, type SpawnedProcess } from './spawn-request.js';

/** Deaths within this window that make the daemon give a spawner up. */
const DEATH_WINDOW_MS = 60_000;
const MAX_DEATHS = 5;

type Log = (level: 'info' | 'warn', message: string) => void;

/**
 * The daemon's side of process spawning: every run is forked by another process, so `fork()`
 * (whose cost grows with the daemon's memory) never stops the daemon's event loop. Where
 * appmesh-launch was built, its fork server starts the runs (one exec per run); runs given stdin,
 * and every run where it was not built, go through the Node spawner, which keeps their pipes.
 * Each reports pids, then exits. When one dies, the runs it started are reported lost (their
 * owners end their trees) and a new one starts; when the fork server cannot be used, the Node
 * spawner takes its runs; when neither can, the daemon forks by itself, with a warning.
 */
export class Spawner {
  private readonly native?: SpawnerSlot;
  private readonly node: SpawnerSlot;

  /** `forkServer`: appmesh-launch, whose `--serve` mode is the fork server; absent: the Node spawner only. */
  constructor(log: Log, forkServer?: string) {
    // The fork server starts within a millisecond: with the first run, not during the daemon's
    // start-up. The Node spawner takes tens of milliseconds: started now where it forks every run.
    this.native = forkServer ? new SpawnerSlot('the fork server', (onEnd) => new ForkServerProcess(forkServer, onEnd), log, 'the Node spawner starts its runs', false) : undefined;
    this.node = new SpawnerSlot('the process spawner', (onEnd) => new NodeSpawnerProcess(onEnd), log, 'processes are started by the daemon itself, which pauses it at each start', !this.native);
  }

  /** Why no spawner is used (the daemon forks by itself), or undefined while one is. */
  get disabledReason(): string | undefined {
    return this.native?.usable ? undefined : this.node.unavailable;
  }

  /** Which process forks runs that get no stdin: `fork-server` (appmesh-launch) or `node`; and why not the fork server. */
  get forker(): { program: 'fork-server' | 'node'; reason?: string } {
    if (this.native?.usable) return { program: 'fork-server' };
    return { program: 'node', reason: this.native ? this.native.unavailable : 'appmesh-launch is not used' };
  }

  /** The pid of the process that forks runs without stdin. */
  get pid(): number | undefined {
    return this.native?.usable ? this.native.pid : this.node.pid;
  }

  /** True when a start with this stdin goes to the fork server, which makes the run's cgroup folders at the fork. */
  makesCgroupsAtFork(stdin: SpawnRequest['stdin']): boolean {
    return stdin === 'ignore' && this.native?.usable === true;
  }

  /** Removes an ended run's cgroup folders in the fork server: true once removed, false while busy, undefined when it cannot. */
  async removeFolders(folders: string[]): Promise<boolean | undefined> {
    return this.native?.usable ? this.native.removeFolders(folders) : undefined;
  }

  async start(request: SpawnRequest): Promise<SpawnedProcess> {
    if (this.native?.usable && request.stdin === 'ignore') {
      try {
        return await this.native.start(request);
      } catch (error) {
        if (!(error instanceof SpawnerUnavailable)) throw error;
      }
    }
    // The Node spawner forks as told: the cgroup is made here first.
    if (request.cgroup) makeCgroupHere(request.cgroup);
    return this.node.start(request);
  }

  close(): void {
    this.native?.close();
    this.node.close();
  }
}

/** One kind of spawner process: started on first use, replaced when it dies, given up when it keeps dying. */
class SpawnerSlot {
  private current?: SpawnerBackend;
  unavailable?: string;
  private readonly deaths: number[] = [];
  private closed = false;

  constructor(
    private readonly name: string,
    private readonly create: (onEnd: (reason: string) => void) => SpawnerBackend,
    private readonly log: Log,
    /** What happens to its starts once it is given up, for the warning. */
    private readonly fallback: string,
    startNow = true,
  ) {
    if (startNow) this.current = this.launch();
  }

  get usable(): boolean {
    return !this.unavailable && !this.closed;
  }

  get pid(): number | undefined {
    return this.current?.pid;
  }

  async start(request: SpawnRequest): Promise<SpawnedProcess> {
    if (!this.usable) throw new SpawnerUnavailable(this.unavailable ?? 'closed');
    const spawner = (this.current ??= this.launch());
    try {
      await spawner.ready;
    } catch (error) {
      this.disable(`${this.name} did not start (${(error as Error).message})`);
      throw new SpawnerUnavailable((error as Error).message);
    }
    try {
      return await spawner.start(request);
    } catch (error) {
      if (error instanceof StdioRefused) {
        this.disable(`${this.name} cannot take over output pipes (${error.message})`);
        throw new SpawnerUnavailable(error.message);
      }
      throw error;
    }
  }

  async removeFolders(folders: string[]): Promise<boolean | undefined> {
    const spawner = this.current;
    if (!this.usable || !spawner?.wasReady || !spawner.removeFolders) return undefined;
    return spawner.removeFolders(folders);
  }

  close(): void {
    this.closed = true;
    this.current?.close();
    this.current = undefined;
  }

  private launch(): SpawnerBackend {
    const spawner: SpawnerBackend = this.create((reason) => this.ended(spawner, reason));
    return spawner;
  }

  private ended(spawner: SpawnerBackend, reason: string): void {
    if (this.current !== spawner || this.closed) return;
    this.current = undefined;
    if (!spawner.wasReady) return; // start() reports it and disables.
    const now = Date.now();
    this.deaths.push(now);
    while (this.deaths.length > 0 && this.deaths[0] < now - DEATH_WINDOW_MS) this.deaths.shift();
    if (this.deaths.length >= MAX_DEATHS) {
      this.disable(`${this.name} ended ${this.deaths.length} times within a minute (last: ${reason})`);
      return;
    }
    this.log('warn', `${this.name} ended (${reason}); its runs are ended, a new one starts`);
    this.current = this.launch();
  }

  private disable(reason: string): void {
    if (this.unavailable) return;
    this.unavailable = reason;
    this.current?.close();
    this.current = undefined;
    this.log('warn', `${reason}: ${this.fallback}`);
  }
}
