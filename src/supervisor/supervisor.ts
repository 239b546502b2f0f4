import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PipeSource } from './output/pipe-source.js';
import { releaseSpareFiles } from './output/output-files.js';
import type { AppDefinition } from './app-definition.js';
import { Application, type AppHost, type AppKind } from './application.js';
import type { AppEvent, AppEventType } from './events.js';
import type { AppStore } from '../store/app-store.js';
import type { ExecIdentity } from '../auth/exec-user.js';
import type { Containment } from '../containment/containment.js';
import { readGroupUsage } from './process/proc-stats.js';
import { RunRecords } from './recovery/run-records.js';
import { endLeftovers, sha256 } from './recovery/leftovers.js';
import { bootId, readStartTicks } from './process/proc-identity.js';

export interface SupervisorSettings {
  outputDir: string;
  defaultWorkingDir: string;
  scheduleIntervalSeconds: () => number;
  killGraceMs: () => number;
  maxOutputBytes: () => number;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  execIdentity: (owner: string | undefined) => ExecIdentity;
  sandboxArgv: AppHost['sandboxArgv'];
  /** cgroups and the launcher; absent: process groups only. */
  containment?: Containment;
  /** Where each running process tree is recorded, so a restart after a crash finds it; absent: not recorded. */
  runRecordsDir?: string;
}

/** How often every app is evaluated anyway (a wall-clock jump moves cron and window times). */
const SWEEP_MS = 60_000;

/**
 * Owns every application: registration, removal, the periodic tick and persistence of managed
 * definitions. Each app wakes on its own timer (next start, window edge); the tick visits only
 * the apps that need polling (a health command; a memory limit without cgroups) and stops when
 * there are none. Events go out on `events` ('event').
 */
export class Supervisor {
  readonly events = new EventEmitter();
  private readonly apps = new Map<string, Application>();
  /** Faces with event subscribers say here which apps' STDOUT they want produced. */
  readonly stdoutInterest = new Set<(appName: string) => boolean>();
  private readonly host: AppHost;
  private readonly records?: RunRecords;
  private tickTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  /** Names with a registration waiting for its durable write (a later state change must not overwrite it on disk). */
  private readonly registering = new Map<string, number>();
  /** Managed apps per owner (the per-user cap is checked at each registration: no scan of all apps). */
  private readonly managedByOwner = new Map<string, number>();
  /** Apps the tick visits: a health command, or a memory limit enforced by polling. */
  private readonly polled = new Set<Application>();
  private stdoutRecheck = false;
  /** What the tick did so far: it should visit only the polled apps, never all of them. */
  readonly tickStats = { ticks: 0, visits: 0 };
  private sequence = 0;
  private closed = false;

  constructor(private readonly settings: SupervisorSettings, readonly store: AppStore) {
    mkdirSync(settings.outputDir, { recursive: true, mode: 0o700 });
    mkdirSync(settings.defaultWorkingDir, { recursive: true, mode: 0o700 });
    this.events.setMaxListeners(0);
    const baseEnv = childEnvironment();
    const records = settings.runRecordsDir ? new RunRecords(settings.runRecordsDir, settings.log) : undefined;
    this.records = records;
    this.host = {
      outputDir: settings.outputDir,
      pipes: new PipeSource(join(settings.outputDir, '.pipes')),
      defaultWorkingDir: settings.defaultWorkingDir,
      killGraceMs: settings.killGraceMs,
      maxOutputBytes: settings.maxOutputBytes,
      baseEnv: () => baseEnv,
      wantsStdout: (appName) => {
        for (const wants of this.stdoutInterest) if (wants(appName)) return true;
        return false;
      },
      execIdentity: settings.execIdentity,
      sandboxArgv: settings.sandboxArgv,
      containment: settings.containment,
      emit: (app, type, data) => this.emit(app.name, type, data),
      recordRun: records
        ? (app, run) => {
            const { name, kind } = app;
            const owner = app.definition.owner;
            const startedAt = Math.floor(Date.now() / 1000);
            const cgroup = run.cgroup ? { mode: run.cgroup.mode, dirs: [...run.cgroup.dirs] } : undefined;
            // Made when written (for a run in a cgroup, once it has lasted a while). The leader's
            // start time is read then: pids are handed out in sequence, so its pid names no other
            // process that soon; a leader gone by then is recorded without one (-1).
            const written = records.addMade(run.uuid, cgroup !== undefined, () => ({
              uuid: run.uuid,
              app: name,
              kind,
              ...(owner ? { owner } : {}),
              pid: run.pid,
              start_ticks: readStartTicks(run.pid) ?? -1,
              boot_id: bootId(),
              key_sha256: sha256(run.processKey),
              ...(cgroup ? { cgroup } : {}),
              started_at: startedAt,
            }));
            // Removed only once written: a run that ends at once must not leave its record behind.
            return { written, forget: () => written.then(() => records.remove(run.uuid)) };
          }
        : undefined,
      requestRemoval: (app) => {
        if (this.apps.get(app.name) === app) void this.remove(app.name).catch((error: Error) => settings.log('error', `removing ${app.name} failed: ${error.message}`));
      },
    };
  }

  /**
   * Ends what a previous instance on this home left running when it died, loads stored
   * definitions and starts the tick: each managed app then runs once, started afresh.
   */
  async start(): Promise<void> {
    if (this.records) {
      try {
        const leftovers = await endLeftovers({ records: this.records, cgroups: this.settings.containment?.cgroups, graceMs: this.settings.killGraceMs() });
        if (leftovers.found) {
          const names = leftovers.apps.length ? ` (${leftovers.apps.join(', ')})` : '';
          this.settings.log('warn', `ended the process trees a previous instance left running${names}; managed applications start afresh`);
        }
      } catch (error) {
        this.settings.log('error', `the process trees a previous instance left running could not all be ended: ${(error as Error).message}`);
      }
    }
    const { apps, rejected } = await this.store.loadAll();
    for (const { file, reason } of rejected) this.settings.log('warn', `skipped stored application ${file}: ${reason}`);
    for (const definition of apps) this.install(new Application(definition, 'managed', this.host));
    for (const app of this.apps.values()) {
      try {
        app.activate();
      } catch (error) {
        this.settings.log('warn', `application ${app.name} did not start: ${(error as Error).message}`);
      }
    }
    this.scheduleTick();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  get(name: string): Application | undefined {
    return this.apps.get(name);
  }

  list(): Application[] {
    return [...this.apps.values()];
  }

  has(name: string): boolean {
    return this.apps.has(name);
  }

  /** How the processes it starts are contained (reported by /appmesh/resources). */
  get containment(): Containment | undefined {
    return this.settings.containment;
  }

  get size(): number {
    return this.apps.size;
  }

  /**
   * Registers (or replaces) an application. Managed definitions are persisted before anything
   * starts, so a crash never leaves a running app that is not on disk. Registrations made together
   * share one durable write; the app takes its place in memory when its write is durable, in the
   * order of the calls, so memory and disk change in the same order.
   */
  async register(definition: AppDefinition, kind: AppKind): Promise<Application> {
    if (this.closed) throw new Error('supervisor is shutting down');
    const app = new Application(definition, kind, this.host);
    let previous: Application | undefined;
    const install = (): void => {
      previous = this.install(app);
    };
    if (kind === 'managed') {
      const name = definition.name;
      this.registering.set(name, (this.registering.get(name) ?? 0) + 1);
      try {
        await this.store.save(definition, install);
      } finally {
        const left = (this.registering.get(name) ?? 1) - 1;
        if (left > 0) this.registering.set(name, left);
        else this.registering.delete(name);
      }
    } else install();
    // Stopping the old process does not hold other registrations up.
    if (previous) await previous.dispose(false, settleWindow());
    if (kind === 'managed') app.activate();
    return app;
  }

  async remove(name: string): Promise<boolean> {
    const current = this.apps.get(name);
    if (!current) return false;
    let removed: Application | undefined;
    const forget = (): void => {
      removed = this.apps.get(name);
      this.apps.delete(name);
      if (removed) this.uncount(removed);
    };
    if (current.kind === 'managed') await this.store.remove(name, forget);
    else forget();
    if (!removed) return false;
    // Signalled at once, its exit awaited (briefly): a tree that goes at SIGTERM costs its stop almost nothing.
    await removed.dispose(true, settleWindow());
    this.emit(name, 'REMOVED', null);
    return true;
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    const app = this.apps.get(name);
    if (!app) return;
    const changed = enabled ? app.enable() : await app.disable(settleWindow());
    // Queued in call order with the app's state at that moment: the last write is the latest state.
    // Unless a registration replaced the app while it was stopping, or is about to: the newer definition stays on disk.
    if (changed && app.kind === 'managed' && this.apps.get(name) === app && !this.registering.has(name)) await this.store.save(app.definition);
  }

  /**
   * Enables or disables many apps at once: every stop is signalled in the same turn (no app
   * waits for another's process to go) and the changed definitions share one durable write,
   * made while the processes exit. Resolves with the names that changed, once their processes
   * are gone (disable) and the change is durable.
   */
  async setEnabledMany(names: readonly string[], enabled: boolean): Promise<Set<string>> {
    const changed = new Set<string>();
    const toSave: AppDefinition[] = [];
    const stops: Promise<unknown>[] = [];
    const settle = enabled ? undefined : settleWindow();
    for (const name of names) {
      const app = this.apps.get(name);
      if (!app || app.enabled === enabled) continue;
      // The state changes synchronously in both calls; a disable's stop goes on in the background.
      if (enabled) app.enable();
      else stops.push(app.disable(settle));
      changed.add(name);
      // A registration of the name queued before this write replaces the app: its definition stays on disk.
      if (app.kind === 'managed' && !this.registering.has(name)) toSave.push(app.definition);
    }
    await Promise.all([toSave.length ? this.store.saveMany(toSave) : undefined, ...stops]);
    return changed;
  }

  /**
   * Removes many apps at once: one durable write for all of them, then every process tree is
   * stopped in the same turn. Resolves with the names removed, once their processes are gone.
   */
  async removeMany(names: readonly string[]): Promise<Set<string>> {
    const removed = new Map<string, Application>();
    // Whatever holds the name when the removal is durable goes (as with one removal): memory follows the disk.
    const forget = (name: string): void => {
      const app = this.apps.get(name);
      if (!app) return;
      this.apps.delete(name);
      this.uncount(app);
      removed.set(name, app);
    };
    const managed: string[] = [];
    for (const name of new Set(names)) {
      const app = this.apps.get(name);
      if (!app) continue;
      if (app.kind === 'managed') managed.push(name);
      else forget(name);
    }
    if (managed.length) {
      await this.store.removeMany(managed, () => {
        for (const name of managed) forget(name);
      });
    }
    const settle = settleWindow();
    await Promise.all(
      [...removed].map(async ([name, app]) => {
        await app.dispose(true, settle);
        this.emit(name, 'REMOVED', null);
      }),
    );
    return new Set(removed.keys());
  }

  /** Stops every process (the daemon is going down) without touching stored definitions. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await Promise.all([...this.apps.values()].map((app) => app.dispose(false)));
    this.settings.containment?.close();
    await this.host.pipes.close();
    releaseSpareFiles(this.settings.outputDir);
    await this.store.close();
  }

  /**
   * Subscriptions changed: each running app's STDOUT pump starts or stops reading. Coalesced, so a
   * burst of subscriptions visits the apps once.
   */
  stdoutInterestChanged(): void {
    if (this.stdoutRecheck) return;
    this.stdoutRecheck = true;
    setImmediate(() => {
      this.stdoutRecheck = false;
      for (const app of this.apps.values()) if (app.running) app.pokeStdout();
    });
  }

  /** Puts an app in place (returns the one it replaces) and notes whether the tick must poll it. */
  private install(app: Application): Application | undefined {
    const previous = this.apps.get(app.name);
    if (previous) this.uncount(previous);
    this.apps.set(app.name, app);
    if (app.kind === 'managed') this.managedByOwner.set(app.definition.owner ?? '', this.managedAppsOf(app.definition.owner ?? '') + 1);
    const limitPolled = !this.settings.containment?.cgroups.enabled && (app.definition.resource_limit?.memory_mb ?? 0) > 0;
    if (app.definition.health_check_cmd || limitPolled) {
      this.polled.add(app);
      this.scheduleTick();
    }
    return previous;
  }

  /** How many managed apps a user owns. */
  managedAppsOf(owner: string): number {
    return this.managedByOwner.get(owner) ?? 0;
  }

  private uncount(app: Application): void {
    this.polled.delete(app);
    if (app.kind !== 'managed') return;
    const owner = app.definition.owner ?? '';
    const left = this.managedAppsOf(owner) - 1;
    if (left > 0) this.managedByOwner.set(owner, left);
    else this.managedByOwner.delete(owner);
  }

  private scheduleTick(): void {
    if (this.closed || this.tickTimer || this.polled.size === 0) return;
    this.tickTimer = setTimeout(() => {
      void this.tick().finally(() => {
        this.tickTimer = undefined;
        this.scheduleTick();
      });
    }, this.settings.scheduleIntervalSeconds() * 1000);
    this.tickTimer.unref();
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    this.tickStats.ticks++;
    this.tickStats.visits += this.polled.size;
    await Promise.all(
      [...this.polled].map(async (app) => {
        try {
          await app.checkHealth(now);
        } catch (error) {
          this.settings.log('error', `health check of ${app.name} failed: ${(error as Error).message}`);
        }
      }),
    );
    await this.enforceMemoryLimits();
  }

  /** Every app decides again (idempotent): a timer planned before a wall-clock change is corrected. */
  private sweep(): void {
    const now = Date.now();
    for (const app of this.apps.values()) {
      try {
        app.evaluate(now);
      } catch (error) {
        this.settings.log('error', `evaluation of ${app.name} failed: ${(error as Error).message}`);
      }
    }
  }

  /**
   * `resource_limit.memory_mb` without cgroups: the RSS of each limited process tree is read
   * every tick and a tree above its limit is stopped (best effort, tick-granular). With cgroups
   * the kernel enforces it.
   */
  private async enforceMemoryLimits(): Promise<void> {
    if (this.settings.containment?.cgroups.enabled) return;
    const limited = [...this.polled].filter((app) => app.running && (app.definition.resource_limit?.memory_mb ?? 0) > 0);
    if (limited.length === 0) return;
    const usage = await readGroupUsage(limited.map((app) => app.run!.pid));
    for (const app of limited) {
      const memory = usage.get(app.run!.pid)?.memoryBytes ?? 0;
      const limit = app.definition.resource_limit!.memory_mb! * 1024 * 1024;
      if (memory > limit) await app.stopForLimit(`memory ${Math.round(memory / 1048576)} MiB exceeded resource_limit.memory_mb ${app.definition.resource_limit!.memory_mb}`);
    }
  }

  private emit(appName: string, type: AppEventType, data: Record<string, unknown> | null): void {
    const event: AppEvent = { event_type: type, app_name: appName, timestamp: Math.floor(Date.now() / 1000), sequence: ++this.sequence, data };
    this.events.emit('event', event);
  }
}

/**
 * How long a stop (of one app or many) waits for the processes to go at the SIGTERM sent to
 * their groups at once, before the app's own stop (which escalates after its grace period) takes over.
 */
const BULK_SETTLE_MS = 200;

function settleWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, BULK_SETTLE_MS).unref());
}

/**
 * The daemon's environment minus its own settings (they may hold secrets), and minus what its
 * command line set for the daemon alone: the malloc arenas, whose earlier value (none when empty)
 * its command line passes along.
 */
function childEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const inherited = Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('APPMESH_')));
  const arenas = env.APPMESH_INHERITED_MALLOC_ARENA_MAX;
  if (arenas === '') delete inherited.MALLOC_ARENA_MAX;
  else if (arenas !== undefined) inherited.MALLOC_ARENA_MAX = arenas;
  return inherited;
}
