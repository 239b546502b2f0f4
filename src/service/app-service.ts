import type { AuditLog } from '../audit/audit-log.js';
import { ADMIN_USER } from '../auth/exec-user.js';
import type { Principal } from '../auth/principal.js';
import { parseAppDefinition, type AppDefinition, type ParsedApp } from '../supervisor/app-definition.js';
import type { Application } from '../supervisor/application.js';
import type { OutputMatch } from '../supervisor/output/output-files.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { DurationSyntaxError, parseQueryInteger } from '../supervisor/schedule/duration.js';
import type { SandboxPolicy } from '../containment/sandbox-policy.js';
import type { Authorizer } from './authorize.js';
import { viewApp, viewApps, type AppView } from './app-view.js';
import { badRequest, expectationFailed, noSuchApp, preconditionFailed, ServiceError, serviceUnavailable } from './errors.js';
import type { UserShares } from './user-shares.js';
import { RunLedger } from './run-ledger.js';
import { matchesSelector, parseBulkRequest, type BulkAction } from './app-selection.js';
import { takeRandomBytes } from '../util/random-pool.js';

/** The internal app name of the original daemon: never listed, never editable. */
const RESERVED_APP_NAME = 'agent';
const DEFAULT_OUTPUT_MAX = 3_145_728;
const MIN_OUTPUT_MAX = 1024;
const DEFAULT_RUN_TIMEOUT = 172_800;
const DEFAULT_RUN_LIFECYCLE = 216_000;
const MAX_RUN_SECONDS = 259_200;
const MAX_LONG_POLL_SECONDS = 300;
const RUN_NAME_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const RUN_NAME_LENGTH = 10;

export interface OutputQuery {
  stdout_position?: string;
  stdout_index?: string;
  stdout_maxsize?: string;
  process_uuid?: string;
  timeout?: string;
}

export interface OutputResult {
  data: Buffer;
  /** Omitted (undefined) when the new offset is 0, as the SDKs expect. */
  position?: number;
  exitCode?: number;
}

export interface RunQuery {
  timeout?: string;
  lifecycle?: string;
}

export interface SyncRunResult {
  data: Buffer;
  exitCode: number;
  position: number;
}

/** Tells a sync run that its caller went away (an AbortSignal does, or anything lighter that listens the same way). */
export interface CancelSource {
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface RunOptions {
  /** Keep stdin open for `writeStdin` (agent tools; REST runs never set it). */
  interactive?: boolean;
}

/** Where a run stands, for callers that poll or wait with a deadline. */
export interface RunState {
  name: string;
  process_uuid?: string;
  running: boolean;
  exit_code?: number;
  /** Bytes of output captured so far. */
  output_size: number;
  pid?: number;
}

function runState(app: Application): RunState {
  const run = app.run;
  return {
    name: app.name,
    process_uuid: run?.uuid,
    running: run?.running ?? false,
    exit_code: run?.exit?.code,
    output_size: app.output.size(0) ?? 0,
    pid: run?.running ? run.pid : undefined,
  };
}

/** What a bulk operation did to one app: `refused` and `not_found` carry the single call's status and message. */
export type BulkOutcome = 'changed' | 'unchanged' | 'refused' | 'not_found' | 'failed';
export interface BulkItem {
  name: string;
  outcome: BulkOutcome;
  message: string;
  status?: number;
}
export interface BulkResult {
  action: BulkAction;
  results: BulkItem[];
  counts: Record<BulkOutcome, number>;
}

export interface ListQuery {
  /** `true`: finished runs too. */
  include_finished_runs?: string;
}

/** A run whose process has ended (a run not started yet is still on its way, not finished). */
function isFinishedRun(app: Application): boolean {
  return app.kind === 'oneshot' && app.run !== undefined && !app.running;
}

export interface AppServiceSettings {
  timezoneOffsetMinutes: () => number | undefined;
  maxConcurrentRuns: () => number;
  /** Refuses a sandbox that cannot be honoured, before anything is registered. */
  sandbox: SandboxPolicy;
  /** Per-user caps on runs, apps and subscriptions. */
  shares: UserShares;
}

/** Application and run operations: one method per operation, authorised here for every face. */
export class AppService {
  private readonly copyCounters = new Map<string, number>();
  /** Runs registered but not started yet: they count against the caps already. */
  private startingRuns = 0;
  private readonly runs: RunLedger;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly authorizer: Authorizer,
    private readonly settings: AppServiceSettings,
    private readonly audit: AuditLog,
  ) {
    this.runs = new RunLedger(
      (app) => supervisor.get(app.name) === app,
      (app) => void supervisor.remove(app.name).catch(() => undefined),
    );
  }

  /**
   * The apps the caller may read. Runs (`run`, `syncrun`, agents' `run_command`) are listed while
   * they run; once finished only with `include_finished_runs=true`, so a day of agent commands
   * does not bury the supervised apps. A finished run stays reachable by its name until removed.
   */
  async list(principal: Principal, query: ListQuery = {}): Promise<AppView[]> {
    this.authorizer.authorize(principal, 'app-view-all');
    const includeFinishedRuns = queryFlag('include_finished_runs', query.include_finished_runs);
    const visible = this.supervisor
      .list()
      .filter((app) => app.name !== RESERVED_APP_NAME && (includeFinishedRuns || !isFinishedRun(app)) && this.authorizer.canAccess(principal, app.definition, 'read'));
    return viewApps(visible, this.settings.timezoneOffsetMinutes());
  }

  async get(principal: Principal, name: string): Promise<AppView> {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-view', app.definition, 'read');
    return (await viewApps([app], this.settings.timezoneOffsetMinutes()))[0];
  }

  /**
   * May the caller subscribe to the events of `name` (or of every app, when absent)? The rule of
   * every face that pushes events: `app-subscribe`, plus read access to the app, or `app-view-all`.
   * `registering`: the caller is registering the app now (it will own it), so only the permission.
   * `held`: the subscriptions the caller already holds (Limits.MaxSubscriptionsPerUser).
   */
  authorizeSubscription(principal: Principal, name: string | undefined, registering: boolean, held: number): void {
    this.authorizer.authorize(principal, 'app-subscribe');
    if (!registering) {
      if (name === undefined) this.authorizer.authorize(principal, 'app-view-all');
      else this.authorizer.authorize(principal, undefined, this.find(name).definition, 'read');
    }
    this.settings.shares.admit('MaxSubscriptionsPerUser', principal.name, held);
  }

  /** Health needs no token (load balancers and scripts poll it): "0" healthy, "1" not. */
  health(name: string): 0 | 1 {
    return this.find(name).health;
  }

  async register(principal: Principal, pathName: string, body: unknown): Promise<AppView> {
    this.authorizer.authorize(principal, 'app-reg');
    const parsed = parseAppDefinition(body, { fallbackName: pathName });
    const name = parsed.name!;
    if (name === RESERVED_APP_NAME) throw badRequest(`Application name ${RESERVED_APP_NAME} is reserved`);
    const existing = this.supervisor.get(name);
    if (existing) this.authorizer.authorize(principal, 'app-reg', existing.definition, 'write');
    const definition: AppDefinition = { ...parsed, name, owner: principal.name, status: parsed.status === 0 ? 0 : 1 };
    this.settings.sandbox.check(principal.name, definition);
    // Replacing one's own app takes no new place; a new app, or one taken over, does.
    const takesPlace = !(existing?.kind === 'managed' && existing.definition.owner === principal.name);
    const release = takesPlace ? this.settings.shares.reserve('MaxAppsPerUser', principal.name, this.appsOf(principal.name)) : () => undefined;
    let app: Application;
    try {
      app = await this.supervisor.register(definition, 'managed');
    } catch (error) {
      // Nothing was replaced: the definition is saved before anything changes.
      throw preconditionFailed(`Failed to save application ${name}: ${(error as Error).message}`);
    } finally {
      release();
    }
    this.audit.record({ event: existing ? 'app.replace' : 'app.register', user: principal.name, target: name, client: principal.client, outcome: 'success', detail: definition.command });
    return viewApp(app, undefined, this.settings.timezoneOffsetMinutes());
  }

  async remove(principal: Principal, name: string): Promise<string> {
    const app = this.supervisor.get(name);
    // The original answers a DELETE of an unknown app with an empty 404.
    if (!app || name === RESERVED_APP_NAME) throw new ServiceError(404, '', true);
    if (app.definition.owner !== principal.name) this.authorizer.authorize(principal, 'app-delete', app.definition, 'write');
    await this.supervisor.remove(name);
    this.audit.record({ event: 'app.delete', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    return `Application ${name} removed.`;
  }

  async setEnabled(principal: Principal, name: string, enabled: boolean): Promise<string> {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-control', app.definition, 'write');
    if (app.kind !== 'managed') throw badRequest(`Application ${name} is a run and cannot be ${enabled ? 'enabled' : 'disabled'}`);
    await this.supervisor.setEnabled(name, enabled);
    this.audit.record({ event: enabled ? 'app.enable' : 'app.disable', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    return `${enabled ? 'Enable' : 'Disable'} ${name} success.`;
  }

  /**
   * Enables, disables or deletes many apps in one call (`POST /appmesh/applications/bulk`). Each
   * app is authorised exactly as its single call would be; refusals are listed per app, never
   * fail the call. Names that do not exist are listed as such. `all` and a selector without
   * names reach the supervised apps the caller may see (it needs `app-view-all`, as for the list).
   * The stops go out together and the changes share one durable write.
   */
  async bulk(principal: Principal, body: unknown): Promise<BulkResult> {
    const selection = parseBulkRequest(body);
    const { action, selector } = selection;
    const results: BulkItem[] = [];
    const refuse = (name: string, error: unknown): void => {
      if (!(error instanceof ServiceError)) throw error;
      results.push({ name, outcome: error.status === 404 ? 'not_found' : 'refused', status: error.status, message: error.message });
    };
    const chosen: Application[] = [];
    const holds = this.authorizer.hasPermission(principal, action === 'delete' ? 'app-delete' : 'app-control');
    if (selection.names) {
      for (const name of selection.names) {
        try {
          const app = this.find(name);
          // Authorised before the selector is looked at: the labels of an app one may not touch tell nothing.
          this.authorizeBulk(principal, action, app, holds);
          if (!selector || matchesSelector(app.definition.labels, selector)) chosen.push(app);
        } catch (error) {
          refuse(name, error);
        }
      }
    } else {
      this.authorizer.authorize(principal, 'app-view-all');
      for (const app of this.supervisor.list()) {
        if (app.kind !== 'managed' || app.name === RESERVED_APP_NAME || !this.authorizer.canAccess(principal, app.definition, 'read')) continue;
        if (selector && !matchesSelector(app.definition.labels, selector)) continue;
        try {
          this.authorizeBulk(principal, action, app, holds);
          chosen.push(app);
        } catch (error) {
          refuse(app.name, error);
        }
      }
    }
    const names = chosen.map((app) => app.name);
    let done: Set<string>;
    try {
      done = action === 'delete' ? await this.supervisor.removeMany(names) : await this.supervisor.setEnabledMany(names, action === 'enable');
    } catch (error) {
      const message = `Failed to save the change: ${(error as Error).message}`;
      for (const name of names) results.push({ name, outcome: 'failed', status: 412, message });
      return bulkResult(action, results);
    }
    const event = action === 'delete' ? 'app.delete' : action === 'enable' ? 'app.enable' : 'app.disable';
    for (const name of names) {
      if (done.has(name)) {
        this.audit.record({ event, user: principal.name, target: name, client: principal.client, outcome: 'success' });
        const message = action === 'delete' ? `Application ${name} removed.` : `${action === 'enable' ? 'Enable' : 'Disable'} ${name} success.`;
        results.push({ name, outcome: 'changed', message });
      } else if (action === 'delete') {
        // Removed by another call meanwhile.
        results.push({ name, outcome: 'not_found', status: 404, message: 'No such application' });
      } else {
        results.push({ name, outcome: 'unchanged', message: `Application ${name} is already ${action}d.` });
      }
    }
    return bulkResult(action, results);
  }

  /**
   * The check of the single call for the same action on one app. `holds`: whether the caller
   * holds the action's permission, looked up once per bulk call; a refusal goes through the
   * authorizer as a single call's does (same message, same audit record).
   */
  private authorizeBulk(principal: Principal, action: BulkAction, app: Application, holds: boolean): void {
    const permission = action === 'delete' ? 'app-delete' : 'app-control';
    if (action !== 'delete' || app.definition.owner !== principal.name) {
      if (!holds || !this.authorizer.canAccess(principal, app.definition, 'write')) this.authorizer.authorize(principal, permission, app.definition, 'write');
    }
    if (action !== 'delete' && app.kind !== 'managed') throw badRequest(`Application ${app.name} is a run and cannot be ${action}d`);
  }

  async output(principal: Principal, name: string, query: OutputQuery): Promise<OutputResult> {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-output-view', app.definition, 'read');
    const position = queryInteger(query.stdout_position, 0, 0, Number.MAX_SAFE_INTEGER);
    const index = queryInteger(query.stdout_index, 0, 0, 1024);
    const maxSize = queryInteger(query.stdout_maxsize, DEFAULT_OUTPUT_MAX, MIN_OUTPUT_MAX, DEFAULT_OUTPUT_MAX);
    const timeout = Math.min(queryInteger(query.timeout, 0, 0, MAX_RUN_SECONDS), MAX_LONG_POLL_SECONDS);
    const uuid = query.process_uuid?.trim() ?? '';
    // An app registered a moment ago may still be forking its process: its run is read once it exists.
    if (index === 0) await app.startSettled();
    const run = app.run;
    if (index === 0 && uuid && run?.uuid !== uuid) throw expectationFailed();
    // Long-poll: held until the run finishes or the timeout elapses, not released by new output.
    if (index === 0 && timeout > 0 && run?.running) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([run.exited, new Promise((resolve) => (timer = setTimeout(resolve, timeout * 1000)))]);
      clearTimeout(timer);
    }
    // The exit code tells SDKs to stop paging: only send it once the reader has reached the end.
    // Known before the read, the exit means every byte is in the file; looked at after it, a run
    // that ended while the page was read would send its exit with a page missing the last bytes.
    const exitBefore = index === 0 ? run?.exit : undefined;
    const chunk = await app.output.read(index, position, maxSize);
    // An app that has not run yet (registered a moment ago, or disabled) has no output: empty, not an error.
    if (!chunk && index === 0 && position === 0 && !run) return { data: Buffer.alloc(0), position: undefined, exitCode: undefined };
    if (!chunk) throw expectationFailed();
    const exit = chunk.nextPosition >= chunk.size ? exitBefore : undefined;
    if (exit) this.runs.endRead(app);
    return { data: chunk.data, position: chunk.nextPosition === 0 ? undefined : chunk.nextPosition, exitCode: exit?.code };
  }

  /** `POST /appmesh/app/run`: start now, answer with the handle; the run is removed after `lifecycle`. */
  async runAsync(principal: Principal, body: unknown, query: RunQuery, options: RunOptions = {}): Promise<{ name: string; process_uuid: string }> {
    this.authorizer.authorize(principal, 'app-run-async');
    const { app, uuid } = await this.startRun(principal, body, query, options);
    return { name: app.name, process_uuid: uuid };
  }

  /** `POST /appmesh/app/syncrun`: start, wait for the exit, answer the output, remove the run. */
  async runSync(principal: Principal, body: unknown, query: RunQuery, abort?: CancelSource): Promise<SyncRunResult> {
    this.authorizer.authorize(principal, 'app-run-sync');
    const { app } = await this.startRun(principal, body, query);
    const run = app.run!;
    const onAbort = () => void app.stopRun();
    abort?.addEventListener('abort', onAbort, { once: true });
    try {
      const exit = await run.exited;
      const chunk = await app.output.read(0, 0, DEFAULT_OUTPUT_MAX);
      const data = chunk?.data ?? Buffer.alloc(0);
      return { data, exitCode: exit.code, position: data.length };
    } finally {
      abort?.removeEventListener('abort', onAbort);
      // The run leaves the list right after the reply is written, before the loop reads the next
      // request; the reply does not wait for what follows (its cgroup, output file and
      // crash-recovery record going), which the client never sees.
      setImmediate(() => this.removeInBackground(app.name));
    }
  }

  /**
   * Waits up to `timeoutMs` for the current run of an app to end (agents' deadline-bound calls).
   * Never fails because of the deadline: it reports `running` instead.
   */
  async waitForRun(principal: Principal, name: string, timeoutMs: number, signal?: AbortSignal): Promise<RunState> {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-output-view', app.definition, 'read');
    const run = app.run;
    if (run?.running && timeoutMs > 0) {
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      await Promise.race([
        run.exited,
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
        new Promise((resolve) => signal?.addEventListener('abort', (onAbort = () => resolve(undefined)), { once: true })),
      ]);
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
    return this.seen(app);
  }

  /** Raw bytes of a run's output from a byte cursor (no SDK quirks): agents page with it. */
  async readOutput(principal: Principal, name: string, position: number, maxBytes: number, index = 0): Promise<{ data: Buffer; nextPosition: number; size: number }> {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-output-view', app.definition, 'read');
    const chunk = await app.output.read(index, Math.max(0, position), Math.max(0, maxBytes));
    if (!chunk) throw badRequest(`No output at position ${position} of ${name}`);
    return chunk;
  }

  /** Lines of an output that contain a text (agents look for "error" in a long build log). */
  async searchOutput(principal: Principal, name: string, needle: string, options: { ignoreCase: boolean; maxMatches: number; index?: number }): Promise<OutputMatch[]> {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-output-view', app.definition, 'read');
    if (!needle) throw badRequest('Search text must not be empty');
    const matches = await app.output.search(options.index ?? 0, needle, { ...options, maxLineBytes: 2048 });
    if (!matches) throw badRequest(`No output of ${name} to search`);
    return matches;
  }

  runState(principal: Principal, name: string): RunState {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-output-view', app.definition, 'read');
    return this.seen(app);
  }

  /** The state of a run as reported to its reader; a finished run's end, once read, is kept a short while only. */
  private seen(app: Application): RunState {
    const state = runState(app);
    if (!state.running) this.runs.endRead(app);
    return state;
  }

  /** Input for an interactive run; `close` ends its stdin. */
  async writeStdin(principal: Principal, name: string, data: string, close: boolean): Promise<void> {
    const app = this.find(name);
    this.authorizer.authorize(principal, app.kind === 'oneshot' ? 'app-run-async' : 'app-control', app.definition, 'write');
    const run = app.run;
    if (!run?.running) throw badRequest(`Application ${name} has no running process`);
    if (!run.stdinOpen) throw badRequest(`The stdin of ${name} is not open (start it as an interactive run)`);
    await run.writeStdin(data, close);
  }

  /** Stops the current run's whole process tree (a deliberate stop: no exit action). */
  async stopRun(principal: Principal, name: string): Promise<RunState> {
    const app = this.find(name);
    this.authorizer.authorize(principal, app.kind === 'oneshot' ? 'app-run-async' : 'app-control', app.definition, 'write');
    await app.stopRun();
    this.audit.record({ event: 'app.stop', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    return runState(app);
  }

  private async startRun(principal: Principal, body: unknown, query: RunQuery, options: RunOptions = {}): Promise<{ app: Application; uuid: string }> {
    const timeout = queryInteger(query.timeout, DEFAULT_RUN_TIMEOUT, 0, MAX_RUN_SECONDS);
    const lifecycle = queryInteger(query.lifecycle, DEFAULT_RUN_LIFECYCLE, timeout, MAX_RUN_SECONDS);
    if (timeout === 0 && lifecycle === 0) throw badRequest('Zero timeout and lifecycle speficied');
    // Counted as runs start and end: a start never scans every app.
    if (this.runs.running + this.startingRuns >= this.settings.maxConcurrentRuns()) throw serviceUnavailable('Too many concurrent runs, try again later');

    const definition = this.runDefinition(principal, body);
    this.settings.sandbox.check(principal.name, definition);
    const release = this.settings.shares.reserve('MaxRunsPerUser', principal.name, this.runs.runningOf(principal.name));
    this.startingRuns++;
    let app: Application;
    let run;
    try {
      app = await this.supervisor.register(definition, 'oneshot');
      try {
        run = await app.start(Date.now(), { interactive: options.interactive });
      } catch (error) {
        await this.supervisor.remove(app.name);
        throw badRequest(`Start application ${definition.name} failed: ${(error as Error).message}`);
      }
    } finally {
      this.startingRuns--;
      release();
    }
    if (timeout > 0) {
      const timer = setTimeout(() => void run.stop(), timeout * 1000);
      timer.unref();
      void run.exited.then(() => clearTimeout(timer));
    }
    this.runs.started(app, run, lifecycle || MAX_RUN_SECONDS);
    this.audit.record({ event: 'app.run', user: principal.name, target: app.name, client: principal.client, outcome: 'success', detail: definition.command });
    return { app, uuid: run.uuid };
  }

  /** Resolves the three naming cases of a run: copy of an existing app, new name, or generated. */
  private runDefinition(principal: Principal, body: unknown): AppDefinition {
    const source = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
    const requested = typeof source?.name === 'string' ? source.name.trim() : '';
    const existing = requested ? this.supervisor.get(requested) : undefined;
    if (existing && requested !== RESERVED_APP_NAME) {
      this.authorizer.authorize(principal, undefined, existing.definition, 'read');
      if (source?.command !== undefined && source.command !== null && source.command !== '') {
        throw badRequest(`Should not specify command for an existing application ${requested}`);
      }
      const overrides = parseAppDefinition({ command: 'true', metadata: source?.metadata, env: source?.env, sec_env: source?.sec_env }, { nameOptional: true });
      // The owner's secrets go only to the owner's (or admin's) runs: another reader could
      // otherwise steer the copy (env, metadata) into printing them.
      const { sec_env: ownerSecrets, ...shared } = existing.definition;
      const mayInherit = existing.definition.owner === principal.name || principal.name === ADMIN_USER;
      const copy: AppDefinition = {
        ...shared,
        ...(mayInherit && ownerSecrets ? { sec_env: ownerSecrets } : {}),
        name: this.copyName(requested),
        owner: principal.name,
        status: 2,
        register_time: Math.floor(Date.now() / 1000),
        ...(source && 'metadata' in source ? { metadata: overrides.metadata } : {}),
        ...(overrides.env ? { env: overrides.env } : {}),
        ...(overrides.sec_env ? { sec_env: overrides.sec_env } : {}),
      };
      return stripSchedule(copy);
    }
    const parsed = parseAppDefinition(body, { nameOptional: true });
    const name = parsed.name ?? this.generatedName();
    if (name === RESERVED_APP_NAME) throw badRequest(`Application name ${RESERVED_APP_NAME} is reserved`);
    return runDefinitionOf(parsed, name, principal.name);
  }

  private copyName(base: string): string {
    let counter = this.copyCounters.get(base) ?? 0;
    let name: string;
    do name = `${base}_${++counter}`;
    while (this.supervisor.has(name));
    this.copyCounters.set(base, counter);
    return name;
  }

  private generatedName(): string {
    let name: string;
    do name = randomRunName();
    while (this.supervisor.has(name));
    return name;
  }

  private removeInBackground(name: string): void {
    void this.supervisor.remove(name).catch(() => undefined);
  }

  /** Managed apps the user owns (its share of Limits.MaxAppsPerUser). */
  private appsOf(user: string): number {
    return this.supervisor.managedAppsOf(user);
  }

  private find(name: string): Application {
    const app = this.supervisor.get(name);
    if (!app || name === RESERVED_APP_NAME) throw noSuchApp();
    return app;
  }
}

function randomRunName(): string {
  const bytes = takeRandomBytes(RUN_NAME_LENGTH);
  let name = '';
  for (let index = 0; index < RUN_NAME_LENGTH; index++) name += RUN_NAME_ALPHABET[bytes[index] % RUN_NAME_ALPHABET.length];
  return name;
}

function bulkResult(action: BulkAction, results: BulkItem[]): BulkResult {
  const counts: Record<BulkOutcome, number> = { changed: 0, unchanged: 0, refused: 0, not_found: 0, failed: 0 };
  for (const item of results) counts[item.outcome]++;
  return { action, results, counts };
}

/** A run starts once, now: schedule fields of a copied or given definition do not apply. */
function stripSchedule(definition: AppDefinition): AppDefinition {
  const { start_interval_seconds: _interval, cron: _cron, start_time: _start, end_time: _end, daily_limitation: _daily, ...rest } = definition;
  return rest;
}

const SCHEDULE_FIELDS = new Set(['start_interval_seconds', 'cron', 'start_time', 'end_time', 'daily_limitation']);

/**
 * `stripSchedule({ ...parsed, name, owner, status: 2 })` in one copy (one per run: the spread and
 * the rest copy each cost as much).
 */
function runDefinitionOf(parsed: ParsedApp, name: string, owner: string): AppDefinition {
  const fields = parsed as Record<string, unknown>;
  const run: Record<string, unknown> = {};
  for (const key in fields) if (!SCHEDULE_FIELDS.has(key)) run[key] = fields[key];
  run.name = name;
  run.owner = owner;
  run.status = 2;
  return run as unknown as AppDefinition;
}

function queryFlag(name: string, value: string | undefined): boolean {
  const text = value?.trim().toLowerCase() ?? '';
  if (text === '' || text === 'false' || text === '0') return false;
  if (text === 'true' || text === '1') return true;
  throw badRequest(`Invalid query ${name}: use true or false`);
}

function queryInteger(value: string | undefined, fallback: number, min: number, max: number): number {
  try {
    return parseQueryInteger(value, fallback, min, max);
  } catch (error) {
    if (error instanceof DurationSyntaxError) throw badRequest(error.message);
    throw error;
  }
}
