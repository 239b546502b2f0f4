#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { invocationError, readCommandLine } from './cli/command-line.js';
import { DAEMON_USAGE } from './cli/usage.js';
import type { Daemon } from './daemon.js';
import { defaultHome, lockHome } from './store/home.js';
import { installCrashGuards } from './util/crash-guard.js';
import { consoleStdout, ignoreStdioStreamErrors } from './util/console-output.js';
import { Logger } from './util/log.js';

/** The same stop signal twice within this window is one request (Ctrl-C under `npm start` arrives from the terminal and from npm). */
const REPEAT_WINDOW_MS = 1_000;
/** How long a stop may take beyond Limits.KillGraceSeconds before the daemon exits anyway. */
const STOP_MARGIN_MS = 10_000;

// Before anything can write: the daemon must never depend on its stdout/stderr being read.
ignoreStdioStreamErrors();
const options = readCommandLine('appmesh-ts', DAEMON_USAGE, ['home', 'config']);
const configFile = options.has('config') ? resolve(options.get('config')!) : undefined;
if (configFile && !existsSync(configFile)) invocationError('appmesh-ts', `the configuration file ${configFile} does not exist`);

const log = new Logger();
installCrashGuards(log);

let daemon: Daemon | undefined;
let stopping: { signal: NodeJS.Signals; at: number } | undefined;

async function exit(code: number): Promise<void> {
  await log.flush(500).catch(() => undefined);
  process.exit(code);
}

function onStopSignal(signal: NodeJS.Signals): void {
  if (!stopping) {
    stopping = { signal, at: Date.now() };
    // A signal during start-up is acted on as soon as the daemon is up (it answers readyz early).
    if (daemon) shutDown(daemon);
    return;
  }
  if (Date.now() - stopping.at < REPEAT_WINDOW_MS) return;
  log.warn(`${signal} received again: killing the applications and exiting at once`);
  forceExit();
}

/** No more waiting: every application's process group gets SIGKILL, then the daemon exits. */
function forceExit(): void {
  for (const app of daemon?.supervisor.list() ?? []) {
    const pid = app.run?.pid;
    try {
      // Each run leads its own process group.
      if (pid) process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  void exit(1);
}

function shutDown(running: Daemon): void {
  const graceMs = running.core.config().Limits.KillGraceSeconds * 1000;
  log.info(`${stopping!.signal} received, stopping applications`);
  setTimeout(() => {
    log.error(`stopping took longer than ${(graceMs + STOP_MARGIN_MS) / 1000} s: killing the applications and exiting`);
    forceExit();
  }, graceMs + STOP_MARGIN_MS);
  running.close().then(
    () => exit(0),
    (error: Error) => {
      log.error(`stopping failed: ${error.message}`);
      return exit(1);
    },
  );
}

// Installed before anything starts, so no signal finds the default handler (exit without stopping apps).
process.on('SIGTERM', onStopSignal);
process.on('SIGINT', onStopSignal);
// SIGHUP re-reads config.yaml (listener and TLS changes still need a restart). A closed terminal
// sends it too: the daemon carries on (its lines go to a log file once the console is gone).
let reloadPending = false;
function reload(running: Daemon): void {
  running.core.settings.reload().then(
    () => log.info('SIGHUP: configuration reloaded'),
    (error: Error) => log.error(`SIGHUP: configuration not reloaded: ${error.message}`),
  );
}
process.on('SIGHUP', () => {
  // During start-up (readyz already answers) the reload waits for the daemon.
  if (daemon) reload(daemon);
  else reloadPending = true;
});

try {
  // The home's lock is taken by a helper process while the daemon's modules load, not after.
  const home = resolve(options.get('home') ?? defaultHome());
  const locked = lockHome(home, (message) => log.warn(message));
  locked.catch(() => undefined);
  // Loaded only now, so that --help and --version answer at once.
  const { startDaemon } = await import('./daemon.js');
  daemon = await startDaemon({ logger: log, home, lock: await locked, configFile, announce: (text) => consoleStdout().write(text) });
  if (stopping) shutDown(daemon);
  else if (reloadPending) reload(daemon);
} catch (error) {
  log.error(`App Mesh TS failed to start: ${(error as Error).message}`);
  await exit(1);
}
