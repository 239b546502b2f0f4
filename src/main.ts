#!/usr/bin/env node
import { startDaemon, type Daemon } from './daemon.js';
import { Logger } from './util/log.js';

const log = new Logger();

// A supervisor must outlive its own bugs: log them and keep serving.
process.on('uncaughtException', (error) => log.error(`uncaught exception: ${error.stack ?? error.message}`));
process.on('unhandledRejection', (reason) => log.error(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`));

let daemon: Daemon | undefined;
let stopSignal: string | undefined;

function stop(signal: string): void {
  if (stopSignal) return;
  stopSignal = signal;
  // A signal during start-up is acted on as soon as the daemon is up (it answers readyz early).
  if (daemon) shutDown(daemon);
}

function shutDown(running: Daemon): void {
  log.info(`${stopSignal} received, stopping applications`);
  void running.close().finally(() => process.exit(0));
}

// Installed before anything starts, so no signal finds the default handler (exit without stopping apps).
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// SIGHUP re-reads config.yaml (listener and TLS changes still need a restart).
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
  daemon = await startDaemon({ logger: log });
  if (stopSignal) shutDown(daemon);
  else if (reloadPending) reload(daemon);
} catch (error) {
  log.error(`App Mesh TS failed to start: ${(error as Error).message}`);
  process.exit(1);
}
