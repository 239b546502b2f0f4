import { setTimeout as sleep } from 'node:timers/promises';

/** Sends `signal` to every process of the group led by `pgid`; false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export function groupExists(pgid: number): boolean {
  return signalGroup(pgid, 0);
}

/**
 * Stops a whole process tree: SIGTERM to the group, then SIGKILL to whatever is left once the
 * grace period is over. Resolves when no process of the group remains (or after SIGKILL).
 */
export async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return;
  // Stopped processes ignore TERM until continued.
  signalGroup(pgid, 'SIGCONT');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(25);
    if (!groupExists(pgid)) return;
  }
  signalGroup(pgid, 'SIGKILL');
  for (let attempt = 0; attempt < 40 && groupExists(pgid); attempt++) await sleep(25);
}
