import { setTimeout as sleep } from 'node:timers/promises';

/** For what outlives the leader (its exit is awaited, never polled), the group is checked this often. */
const STRAY_POLL_MS = 25;
/** After SIGKILL, how long the group may take to be gone. */
const KILL_WAIT_MS = 1000;

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
 * Resolves true once `gone()` holds, false at the deadline. With `leaderExited` (the leader's
 * exit as reported to the daemon), the check waits for that event first: a group that was only
 * its leader is gone then, without a single poll; what outlived the leader is checked every 25 ms.
 */
export async function waitUntilGone(gone: () => boolean, ms: number, leaderExited?: Promise<unknown>): Promise<boolean> {
  if (gone()) return true;
  const deadline = Date.now() + ms;
  if (leaderExited) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([leaderExited, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    if (gone()) return true;
  }
  while (Date.now() < deadline) {
    await sleep(Math.min(STRAY_POLL_MS, Math.max(1, deadline - Date.now())));
    if (gone()) return true;
  }
  return gone();
}

/**
 * Stops a whole process tree: SIGTERM to the group, then SIGKILL to whatever is left once the
 * grace period is over. Resolves when no process of the group remains (or after SIGKILL).
 */
export async function terminateGroup(pgid: number, graceMs: number, leaderExited?: Promise<unknown>): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return;
  // Stopped processes ignore TERM until continued.
  signalGroup(pgid, 'SIGCONT');
  const gone = () => !groupExists(pgid);
  if (await waitUntilGone(gone, graceMs, leaderExited)) return;
  signalGroup(pgid, 'SIGKILL');
  await waitUntilGone(gone, KILL_WAIT_MS);
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
  const gone = () => !pids.some(alive);
  if (await waitUntilGone(gone, graceMs)) return;
  signal('SIGKILL');
  await waitUntilGone(gone, KILL_WAIT_MS);
}
