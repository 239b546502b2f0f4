import { readdir } from 'node:fs/promises';
import type { GroupUsage } from '../supervisor/process/proc-stats.js';

export interface TreeUsage {
  memoryBytes: number;
  fds: number;
}

/**
 * Memory and fds of the daemon's process tree: the daemon itself plus the process groups of
 * its applications (each app runs in a group of its own, so the groups do not overlap).
 */
export async function daemonTreeUsage(appGroups: readonly GroupUsage[]): Promise<TreeUsage> {
  let fds = 0;
  try {
    fds = (await readdir('/proc/self/fd')).length;
  } catch {
    // No /proc (not Linux): only the apps' counts, which are empty there too.
  }
  return {
    memoryBytes: process.memoryUsage.rss() + appGroups.reduce((sum, group) => sum + group.memoryBytes, 0),
    fds: fds + appGroups.reduce((sum, group) => sum + group.fds, 0),
  };
}
