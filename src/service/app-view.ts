import { userInfo } from 'node:os';
import type { Application } from '../supervisor/application.js';
import { readGroupUsage, type GroupUsage } from '../supervisor/process/proc-stats.js';
import { formatLocalTime, formatTimeOfDay } from '../supervisor/schedule/time-text.js';

export type AppView = Record<string, unknown>;

const CLOCK_TICKS_PER_SECOND = 100;
const daemonUser = (() => {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
})();

/** Runtime views of several apps with one scan of /proc for their process trees. */
export async function viewApps(apps: readonly Application[], offsetMinutes?: number): Promise<AppView[]> {
  const usage = await readGroupUsage(apps.filter((app) => app.running).map((app) => app.run!.pid));
  return apps.map((app) => viewApp(app, app.running ? usage.get(app.run!.pid) : undefined, offsetMinutes));
}

/**
 * The runtime view of App Mesh: definition fields only when set, computed fields, `*_TEXT`
 * companions of times, never `sec_env`.
 */
export function viewApp(app: Application, usage: GroupUsage | undefined, offsetMinutes?: number): AppView {
  const d = app.definition;
  const text = (seconds: number) => formatLocalTime(seconds, offsetMinutes);
  const view: AppView = { name: d.name };
  if (d.owner) view.owner = d.owner;
  if (d.permission) view.permission = d.permission;
  if (d.shell) view.shell = true;
  if (d.session_login) view.session_login = true;
  if (d.metadata !== undefined) view.metadata = d.metadata;
  if (d.command !== undefined) view.command = d.command;
  if (d.description !== undefined) view.description = d.description;
  if (d.stdout_cache_num) view.stdout_cache_num = d.stdout_cache_num;
  if (d.health_check_cmd) view.health_check_cmd = d.health_check_cmd;
  if (d.working_dir) view.working_dir = d.working_dir;
  if (d.resource_limit) view.resource_limit = d.resource_limit;
  if (d.sandbox) view.sandbox = d.sandbox;
  if (d.sandbox_network !== undefined) view.sandbox_network = d.sandbox_network;
  if (d.env) view.env = d.env;
  if (d.labels) view.labels = d.labels;
  if (d.version) view.version = d.version;
  view.status = d.status;
  view.register_time = d.register_time;
  view.register_time_TEXT = text(d.register_time);
  const recurring = d.start_interval_seconds !== undefined;
  const startTime = d.start_time ?? (recurring && !d.cron ? app.anchorSeconds : undefined);
  if (startTime !== undefined) {
    view.start_time = startTime;
    view.start_time_TEXT = text(startTime);
  }
  if (d.end_time !== undefined) {
    view.end_time = d.end_time;
    view.end_time_TEXT = text(d.end_time);
  }
  if (d.daily_limitation) {
    view.daily_limitation = {
      ...d.daily_limitation,
      daily_start_TEXT: formatTimeOfDay(mod(d.daily_limitation.daily_start)),
      daily_end_TEXT: formatTimeOfDay(mod(d.daily_limitation.daily_end)),
    };
  }
  if (d.retention) view.retention = String(d.retention);
  if (d.cron) view.cron = true;
  if (recurring) view.start_interval_seconds = String(d.start_interval_seconds);
  view.behavior = d.behavior;

  const run = app.run;
  if (run?.running) {
    view.pid = run.pid;
    view.pid_user = run.user ?? daemonUser;
    view.process_uuid = run.uuid;
    view.task_id = app.tasks.counter;
    view.task_status = app.tasks.status;
  }
  if (app.lastExit) {
    view.return_code = app.lastExit.code;
    view.last_exit_time = Math.floor(app.lastExit.atMs / 1000);
    view.last_exit_time_TEXT = text(view.last_exit_time as number);
  }
  if (run) {
    view.last_start_time = Math.floor(run.startedAtMs / 1000);
    view.last_start_time_TEXT = text(view.last_start_time as number);
  }
  if (app.nextStartMs !== undefined) {
    view.next_start_time = Math.floor(app.nextStartMs / 1000);
    view.next_start_time_TEXT = text(view.next_start_time as number);
  }
  view.starts = app.starts;
  view.health = app.health;
  if (usage) {
    view.memory = usage.memoryBytes;
    view.cpu = cpuPercent(app, usage);
    view.fd = usage.fds;
    view.pstree = usage.tree;
  }
  view.stdout_cache_size = app.output.count();
  if (app.lastError) view.last_error = app.lastError;
  return view;
}

function cpuPercent(app: Application, usage: GroupUsage): number {
  const now = Date.now();
  const previous = app.cpuSample;
  app.cpuSample = { ticks: usage.cpuTicks, atMs: now };
  const since = previous ? now - previous.atMs : now - (app.run?.startedAtMs ?? now);
  const ticks = previous ? usage.cpuTicks - previous.ticks : usage.cpuTicks;
  if (since <= 0 || ticks < 0) return 0;
  return Math.round(((ticks / CLOCK_TICKS_PER_SECOND) / (since / 1000)) * 10_000) / 100;
}

const mod = (seconds: number) => ((seconds % 86_400) + 86_400) % 86_400;
