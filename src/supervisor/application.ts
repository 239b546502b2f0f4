import { existsSync } from 'node:fs';
import type { AppDefinition, ExitAction } from './app-definition.js';
import type { AppEventType } from './events.js';
import type { ExecIdentity } from '../auth/exec-user.js';
import type { Containment } from '../containment/containment.js';
import { OutputFiles } from './output/output-files.js';
import type { PipeSource } from './output/pipe-source.js';
import { TaskChannel } from './tasks/task-channel.js';
import { StdoutPump } from './output/stdout-pump.js';
import { ProcessRun, type RunExit, type RunRecording, type StartedRun } from './process/process-run.js';
import { runCheck } from './process/run-check.js';
import { signalGroup } from './process/process-group.js';
import { nextBackoffSeconds } from './schedule/backoff.js';
import { nextOccurrence, type Recurrence } from './schedule/recurrence.js';
import { isRunAllowed, nextAllowedTime, nextWindowEdge, type RunWindow } from './schedule/time-window.js';
import { formatLocalTime } from './schedule/time-text.js';

export type AppKind = 'managed' | 'oneshot';

/** What an application needs from the supervisor around it. */
export interface AppHost {
  readonly outputDir: string;
  /** Pipes between processes and the daemon, which copies them into the output files. */
  readonly pipes: PipeSource;
  readonly defaultWorkingDir: string;
  killGraceMs(): number;
  maxOutputBytes(): number;
  baseEnv(): Record<string, string>;
  /** cgroups and launcher tools for every process started. */
  readonly containment?: Containment;
  /** Whether a subscriber wants this app's STDOUT events (reading output costs I/O). */
  wantsStdout(appName: string): boolean;
  /** The OS account for the owner's processes; throws when it cannot be used. */
  execIdentity(owner: string | undefined): ExecIdentity;
  /** The sandbox prefix of a start (bubblewrap), or undefined; throws when the sandbox cannot be honoured. */
  sandboxArgv(definition: AppDefinition, context: { workingDir: string; home?: string; uid?: number }): string[] | undefined;
  emit(app: Application, type: AppEventType, data: Record<string, unknown> | null): void;
  /** The `remove` exit action and run lifecycles end here. */
  requestRemoval(app: Application): void;
  /** Records a started run for crash recovery; returns what forgets it once the run is gone. */
  readonly recordRun?: (app: Application, run: StartedRun) => RunRecording;
}

const HEALTH_CHECK_TIMEOUT_MS = 10_000;
const MiB = 1024 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One supervised application: its definition, its current run and the plan for its next start.
 * All decisions are taken in `evaluate()`, which the supervisor's tick, process exits and API
 * calls invoke; it is idempotent, so a missed or extra call never changes the outcome.
 */
export class Application {
  run?: ProcessRun;
  /** Exit of the last finished run (the current run may already be a newer one). */
  lastExit?: RunExit;
  /** Runs replaced by a newer occurrence, allowed to finish within `retention`. */
  private readonly retiring = new Set<ProcessRun>();
  readonly output: OutputFiles;
  readonly tasks = new TaskChannel();
  private readonly stdout: StdoutPump;
  starts = 0;
  health: 0 | 1 = 1;
  lastError?: string;
  nextStartMs?: number;
  private backoffSeconds = 0;
  private planTimer?: NodeJS.Timeout;
  /** When the plan timer fires (kept while the plan does not change). */
  private planDueMs?: number;
  private removalTimer?: NodeJS.Timeout;
  private healthCheckRunning = false;
  /** Why the daemon ended the current run (a resource limit), for its exit's `last_error`. */
  private limitNote?: string;
  private disposed = false;
  /** The start in progress (its process being forked). */
  private starting?: Promise<ProcessRun>;
  /** Filled by the view for CPU percentages between two reads. */
  cpuSample?: { ticks: number; atMs: number };

  constructor(
    public definition: AppDefinition,
    readonly kind: AppKind,
    private readonly host: AppHost,
  ) {
    this.output = new OutputFiles(host.outputDir, definition.name);
    this.stdout = new StdoutPump(this.output.path(0), () => host.wantsStdout(this.name), (chunk) => host.emit(this, 'STDOUT', { ...chunk }));
  }

  get name(): string {
    return this.definition.name;
  }

  get enabled(): boolean {
    return this.definition.status === 1;
  }

  get running(): boolean {
    return this.run?.running ?? false;
  }

  get recurrence(): Recurrence | undefined {
    const interval = this.definition.start_interval_seconds;
    if (interval === undefined) return undefined;
    if (this.definition.cron) return { kind: 'cron', expression: String(interval) };
    return { kind: 'interval', seconds: Number(interval), anchorMs: this.anchorSeconds * 1000 };
  }

  /** Interval grid anchor: `start_time`, or one second after registration. */
  get anchorSeconds(): number {
    return this.definition.start_time ?? this.definition.register_time + 1;
  }

  get window(): RunWindow {
    return { startTime: this.definition.start_time, endTime: this.definition.end_time, daily: this.definition.daily_limitation };
  }

  /** Plans the first start (registration, enable, daemon start). */
  activate(nowMs = Date.now()): void {
    if (this.kind !== 'managed' || !this.enabled || this.disposed) return;
    const recurrence = this.recurrence;
    this.nextStartMs = recurrence ? nextOccurrence(recurrence, nowMs - 1, this.window) : nextAllowedTime(nowMs, this.window);
    this.evaluate(nowMs);
  }

  evaluate(nowMs = Date.now()): void {
    if (this.disposed || this.kind !== 'managed') return;
    const allowed = this.enabled && isRunAllowed(nowMs, this.window);
    if (this.running && !allowed) {
      // Outside its window (or disabled): a deliberate stop, no exit action.
      void this.stopRun();
      if (this.enabled && !this.recurrence) this.nextStartMs = nextAllowedTime(nowMs, this.window);
    }
    if (this.enabled && this.nextStartMs !== undefined && this.nextStartMs <= nowMs) {
      if (allowed) {
        // Recorded in last_error; start() plans the retry.
        this.start(nowMs).catch(() => undefined);
      } else this.nextStartMs = this.replan(nowMs);
    }
    if (!this.enabled) this.nextStartMs = undefined;
    this.armTimer(nowMs);
  }

  /**
   * Starts a run now. Resolves with the run once its process runs, or rejects with the start
   * failure (recorded in `last_error`, the retry planned).
   */
  async start(nowMs = Date.now(), options: { interactive?: boolean } = {}): Promise<ProcessRun> {
    const previous = this.run;
    if (previous?.running) {
      this.retire(previous);
      this.run = undefined;
    }
    // Planned now, while the process is being forked: an evaluation meanwhile does not start it twice.
    if (this.kind === 'managed') this.nextStartMs = this.recurrence ? this.replan(nowMs) : undefined;
    let run: ProcessRun;
    const attempt = this.spawn(options.interactive ?? false);
    this.starting = attempt;
    try {
      run = await attempt;
    } catch (error) {
      this.recordError(`failed to start: ${(error as Error).message}`);
      this.setHealth(1);
      if (this.kind === 'managed' && !this.disposed) {
        this.nextStartMs = this.recurrence ? this.replan(nowMs + 1000) : this.replan(nowMs + this.bumpBackoff(0) * 1000);
        if (!this.enabled) this.nextStartMs = undefined;
        this.armTimer(Date.now());
      }
      throw error;
    } finally {
      if (this.starting === attempt) this.starting = undefined;
    }
    this.run = run;
    this.tasks.runStarted(run.processKey);
    this.starts++;
    this.host.emit(this, 'START', { pid: run.pid, process_uuid: run.uuid });
    this.stdout.start();
    if (!this.definition.health_check_cmd) this.setHealth(0);
    void run.exited.then((exit) => this.onExit(run, exit));
    return run;
  }

  /** Resolves once a start in progress has its process (or failed): its output file exists then. */
  async startSettled(): Promise<void> {
    await this.starting?.catch(() => undefined);
  }

  /** Deliberate stop of the current run (no exit action); resolves once nothing of its tree is left. */
  async stopRun(): Promise<void> {
    // A run being started is the current run too.
    await this.starting?.catch(() => undefined);
    await this.run?.stop();
  }

  /**
   * A run over its resource limit is stopped; unlike a deliberate stop the exit action applies
   * (a `restart` app comes back), like a crash would.
   */
  async stopForLimit(reason: string): Promise<void> {
    const run = this.run;
    if (!run?.running) return;
    this.limitNote = reason;
    await run.kill();
  }

  /**
   * `settle`: part of a stop of many apps, which signal every process group at once. Each app's
   * runs are then waited for until `settle` resolves, before the stop that makes sure nothing of
   * their trees is left: the processes that went at the signal cost that stop almost nothing.
   */
  async disable(settle?: Promise<unknown>): Promise<boolean> {
    if (this.definition.status === 0) return false;
    this.definition = { ...this.definition, status: 0 };
    this.nextStartMs = undefined;
    this.clearPlanTimer();
    if (settle) await this.signalRuns(settle);
    await Promise.all([this.stopRun(), ...[...this.retiring].map((run) => run.stop())]);
    this.host.emit(this, 'STATUS', { status: 'disabled', previous_status: 'enabled' });
    return true;
  }

  enable(): boolean {
    if (this.definition.status === 1) return false;
    this.definition = { ...this.definition, status: 1 };
    this.host.emit(this, 'STATUS', { status: 'enabled', previous_status: 'disabled' });
    this.activate();
    return true;
  }

  /** Stops everything for good; `removeOutput` also deletes the output files. */
  async dispose(removeOutput: boolean, settle?: Promise<unknown>): Promise<void> {
    this.disposed = true;
    this.nextStartMs = undefined;
    this.clearPlanTimer();
    if (this.removalTimer) clearTimeout(this.removalTimer);
    if (settle) await this.signalRuns(settle);
    await Promise.all([this.stopRun(), ...[...this.retiring].map((run) => run.stop())]);
    if (removeOutput) this.output.removeAll();
  }

  /**
   * SIGTERM to the process group of each running run now (its state already says disabled or
   * disposed, so the exit takes no exit action), then waits for their exits or `settle`.
   */
  private async signalRuns(settle: Promise<unknown>): Promise<void> {
    const runs = [this.run, ...this.retiring].filter((run): run is ProcessRun => run?.running === true);
    if (runs.length === 0) return;
    // TERM only (one system call per group: they add up over hundreds of apps); a stopped
    // process, which acts on it only once continued, is continued by the app's own stop after `settle`.
    for (const run of runs) signalGroup(run.pid, 'SIGTERM');
    await Promise.race([Promise.all(runs.map((run) => run.exited)), settle]);
  }

  /** Schedules removal after `seconds` (run lifecycles and the `remove` action). */
  scheduleRemoval(seconds: number): void {
    if (this.removalTimer) clearTimeout(this.removalTimer);
    this.removalTimer = setTimeout(() => this.host.requestRemoval(this), Math.min(seconds * 1000, MAX_TIMER_MS));
    this.removalTimer.unref();
  }

  /** Health: the health command's verdict (each tick, for apps that have one), else "a process is running" (set at start and exit). */
  async checkHealth(nowMs = Date.now()): Promise<void> {
    const command = this.definition.health_check_cmd;
    if (!command) {
      this.setHealth(this.running ? 0 : 1);
      return;
    }
    if (this.healthCheckRunning) return;
    if (!this.enabled || !isRunAllowed(nowMs, this.window)) {
      this.setHealth(1);
      return;
    }
    this.healthCheckRunning = true;
    try {
      // The owner's command: it runs as the owner's OS account, like the app itself.
      const identity = this.host.execIdentity(this.definition.owner);
      const cwd = identity.switched ? '/' : this.host.defaultWorkingDir;
      const exitCode = await runCheck(command, {
        cwd,
        timeoutMs: HEALTH_CHECK_TIMEOUT_MS,
        env: { ...this.host.baseEnv(), ...(identity.switched ? { HOME: identity.user.home, USER: identity.user.name, LOGNAME: identity.user.name } : {}) },
        user: identity.switched ? identity.user : undefined,
        owner: this.definition.owner,
        containment: this.host.containment,
        // The check is the owner's code too: an isolated app's check is isolated (or fails).
        sandboxArgv: this.host.sandboxArgv(this.definition, { workingDir: cwd, home: identity.user.home, uid: identity.user.uid }),
      });
      this.setHealth(exitCode === 0 ? 0 : 1);
    } catch {
      this.setHealth(1);
    } finally {
      this.healthCheckRunning = false;
    }
  }

  /** STDOUT events are produced only while a subscriber wants them (re-checked when subscriptions change). */
  pokeStdout(): void {
    this.stdout.poke();
  }

  private async spawn(interactive: boolean): Promise<ProcessRun> {
    const definition = this.definition;
    const identity = this.host.execIdentity(definition.owner);
    // The daemon's private work folder is not open to other accounts: they start at home.
    const fallbackDir = identity.switched ? (existsSync(identity.user.home) ? identity.user.home : '/tmp') : this.host.defaultWorkingDir;
    let workingDir = definition.working_dir || fallbackDir;
    if (!existsSync(workingDir)) {
      this.recordError(`working directory ${workingDir} does not exist, using ${fallbackDir}`);
      workingDir = fallbackDir;
    }
    const env: Record<string, string> = {
      ...this.host.baseEnv(),
      ...(identity.switched ? { HOME: identity.user.home, USER: identity.user.name, LOGNAME: identity.user.name } : {}),
      ...definition.env,
      ...definition.sec_env,
      APP_MESH_LAUNCH_TIME: String(Math.floor(Date.now() / 1000)),
      APP_MESH_APPLICATION_NAME: definition.name,
    };
    const stdin = definition.metadata === undefined ? undefined : typeof definition.metadata === 'string' ? definition.metadata : JSON.stringify(definition.metadata);
    // Decided before the output file is opened: a sandbox that cannot be honoured fails the start.
    const sandboxArgv = this.host.sandboxArgv(definition, { workingDir, home: identity.user.home, uid: identity.user.uid });
    const output = this.output.openForNewRun(definition.stdout_cache_num ?? 0, () => this.host.maxOutputBytes(), this.host.pipes);
    const limits = definition.resource_limit;
    return ProcessRun.start(
      {
        command: definition.command ?? '',
        shell: definition.shell ?? false,
        workingDir,
        env,
        stdin,
        interactive,
        output,
        user: identity.switched ? identity.user : undefined,
        owner: definition.owner,
        memoryLimitBytes: (limits?.memory_mb ?? 0) * MiB,
        cpuShares: limits?.cpu_shares,
        sandboxArgv,
        recorder: this.host.recordRun ? (run) => this.host.recordRun!(this, run) : undefined,
      },
      this.host.killGraceMs(),
      this.host.containment,
    );
  }

  private onExit(run: ProcessRun, exit: RunExit): void {
    // Per run: START, STDOUT chunks in order, the last one `finished`, then EXIT.
    if (run === this.run) this.stdout.finish();
    this.host.emit(this, 'EXIT', { exit_code: exit.code, pid: run.pid, last_error: this.lastError ?? '' });
    if (run !== this.run) {
      this.retiring.delete(run);
      return;
    }
    this.tasks.runEnded();
    this.lastExit = exit;
    const note = this.limitNote ?? exit.lost ?? (exit.oomKilled ? this.oomNote(exit) : undefined);
    if (exit.code !== 0 || exit.oomKilled) this.recordError(`${this.name} exited with return code: ${exit.code}${note ? ` (${note})` : ''}`);
    this.limitNote = undefined;
    if (!this.definition.health_check_cmd) this.setHealth(1);
    if (exit.deliberate || this.disposed || this.kind !== 'managed' || !this.enabled) {
      this.evaluate(exit.atMs);
      return;
    }
    this.applyExitAction(this.exitActionFor(exit.code), exit.atMs - run.startedAtMs, exit.atMs);
    this.evaluate(exit.atMs);
  }

  /** Which memory limit the kernel enforced: the run's own when its peak reached it, else the owner's share. */
  private oomNote(exit: RunExit): string {
    const limitMb = this.definition.resource_limit?.memory_mb ?? 0;
    const ownLimitHit = limitMb > 0 && (exit.peakMemoryBytes === undefined || exit.peakMemoryBytes >= limitMb * MiB * 0.95);
    return ownLimitHit
      ? `out of memory: killed by the kernel, memory exceeded resource_limit.memory_mb ${limitMb}`
      : `out of memory: killed by the kernel, the owner's processes together exceeded Limits.MaxMemoryPerUserMB`;
  }

  private exitActionFor(code: number): ExitAction {
    return this.definition.behavior.control?.[String(code)] ?? this.definition.behavior.exit;
  }

  private applyExitAction(action: ExitAction, runDurationMs: number, nowMs: number): void {
    const recurring = this.recurrence !== undefined;
    switch (action) {
      case 'standby':
        if (!recurring) this.nextStartMs = undefined;
        break;
      case 'restart':
        if (!recurring) this.nextStartMs = nextAllowedTime(nowMs + this.bumpBackoff(runDurationMs) * 1000, this.window);
        break;
      case 'keepalive':
        this.nextStartMs = recurring ? nowMs : nowMs + this.bumpBackoff(runDurationMs) * 1000;
        break;
      case 'remove':
        this.nextStartMs = undefined;
        this.scheduleRemoval(this.definition.retention ?? 0);
        break;
    }
  }

  private bumpBackoff(runDurationMs: number): number {
    this.backoffSeconds = nextBackoffSeconds(this.backoffSeconds, runDurationMs);
    return this.backoffSeconds;
  }

  private replan(afterMs: number): number | undefined {
    const recurrence = this.recurrence;
    return recurrence ? nextOccurrence(recurrence, afterMs, this.window) : nextAllowedTime(afterMs, this.window);
  }

  /** A newer occurrence replaces a run still going: it may finish within `retention`. */
  private retire(run: ProcessRun): void {
    this.retiring.add(run);
    const retention = this.definition.retention ?? 0;
    if (retention <= 0) {
      void run.stop();
      return;
    }
    const timer = setTimeout(() => void run.stop(), Math.min(retention * 1000, MAX_TIMER_MS));
    timer.unref();
    void run.exited.then(() => clearTimeout(timer));
  }

  /**
   * The app's one timer, at its next decision: the next start or the edge of its run window (a run
   * then stops). Nothing else wakes an idle app: exits and API calls evaluate it themselves.
   */
  private armTimer(nowMs: number): void {
    const edge = this.enabled && !this.disposed && this.kind === 'managed' ? nextWindowEdge(nowMs, this.window) : undefined;
    const due = Math.min(this.nextStartMs ?? Infinity, edge ?? Infinity);
    if (due === this.planDueMs && this.planTimer) return;
    this.clearPlanTimer();
    if (due === Infinity) return;
    this.planDueMs = due;
    const delay = Math.max(0, Math.min(due - nowMs, MAX_TIMER_MS));
    this.planTimer = setTimeout(() => {
      this.planTimer = undefined;
      this.evaluate();
    }, delay);
    this.planTimer.unref();
  }

  private clearPlanTimer(): void {
    if (this.planTimer) clearTimeout(this.planTimer);
    this.planTimer = undefined;
    this.planDueMs = undefined;
  }

  private setHealth(health: 0 | 1): void {
    if (health === this.health) return;
    const previous = this.health;
    this.health = health;
    this.host.emit(this, 'HEALTH', { health, previous_health: previous });
  }

  private recordError(text: string): void {
    this.lastError = `${formatLocalTime(Math.floor(Date.now() / 1000))} ${text}`;
  }
}
