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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops single processes (found outside any group the daemon leads): SIGTERM, SIGKILL after `graceMs`. */
export async function terminatePids(pids: readonly number[], graceMs: number): Promise<void> {
  const signal = (name: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, name);
      } catch {
        // Gone already.
      }
    }
  };
  if (pids.length === 0) return;
  signal('SIGTERM');
  signal('SIGCONT');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(25);
    if (!pids.some(alive)) return;
  }
  signal('SIGKILL');
  for (let attempt = 0; attempt < 40 && pids.some(alive); attempt++) await sleep(25);
}
