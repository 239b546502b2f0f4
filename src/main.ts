#!/usr/bin/env node
import { startDaemon } from './daemon.js';
import { Logger } from './util/log.js';

const log = new Logger();

// A supervisor must outlive its own bugs: log them and keep serving.
process.on('uncaughtException', (error) => log.error(`uncaught exception: ${error.stack ?? error.message}`));
process.on('unhandledRejection', (reason) => log.error(`unhandled rejection: ${reason instanceof Error ? reason.stack : String(reason)}`));

try {
  const daemon = await startDaemon({ logger: log });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal} received, stopping applications`);
    void daemon.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (error) {
  log.error(`App Mesh TS failed to start: ${(error as Error).message}`);
  process.exit(1);
}
