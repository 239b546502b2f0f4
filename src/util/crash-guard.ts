import type { Logger } from './log.js';

/** Reports beyond this many a minute are only counted: a bug that throws in a loop must not flood the log. */
const MAX_REPORTS_PER_MINUTE = 60;

/**
 * A supervisor must outlive its own bugs: uncaught exceptions and unhandled rejections are
 * logged and the daemon keeps serving. The handler cannot throw, and an error raised while it
 * reports (a broken output, a throwing `toString`) is dropped instead of reported again, so no
 * error path can turn into a loop.
 */
export function installCrashGuards(log: Logger): void {
  let reporting = false;
  let windowStart = 0;
  let reported = 0;
  let suppressed = 0;
  const report = (what: string, detail: unknown): void => {
    if (reporting) return;
    reporting = true;
    try {
      const now = Date.now();
      if (now - windowStart >= 60_000) {
        if (suppressed > 0) log.error(`${suppressed} more uncaught errors in the last minute were not logged`);
        windowStart = now;
        reported = 0;
        suppressed = 0;
      }
      if (reported >= MAX_REPORTS_PER_MINUTE) {
        suppressed++;
        return;
      }
      reported++;
      log.error(`${what}: ${describe(detail)}`);
    } catch {
      // Nothing sensible is left to do with it.
    } finally {
      reporting = false;
    }
  };
  process.on('uncaughtException', (error) => report('uncaught exception', error));
  process.on('unhandledRejection', (reason) => report('unhandled rejection', reason));
}

function describe(detail: unknown): string {
  try {
    if (detail instanceof Error) return detail.stack ?? detail.message;
    return String(detail);
  } catch {
    return '(an error that cannot be described)';
  }
}
