import { createHash } from 'node:crypto';
import type { Cgroups } from '../../containment/cgroups.js';
import { RunCgroup } from '../../containment/run-cgroup.js';
import { terminateGroup, terminatePids } from '../process/process-group.js';
import { bootId, findProcessesByEnv, isSameProcess } from '../process/proc-identity.js';
import { PROCESS_KEY_ENV } from '../process/process-run.js';
import type { RunRecord, RunRecords } from './run-records.js';

export interface LeftoverSettings {
  records: RunRecords;
  /** This instance's cgroups, when it uses them. */
  cgroups?: Cgroups;
  graceMs: number;
}

export interface LeftoverReport {
  /** Apps (by name) whose process trees of a previous instance were ended. */
  apps: string[];
  /** Whether anything was left running (also processes of no recorded app, such as health checks). */
  found: boolean;
}

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * At start, before anything runs: ends every process tree a previous instance of the daemon on
 * this home left behind when it died (kill -9, a crash, an out-of-memory kill), so no app ever
 * runs twice and nothing keeps running unsupervised. A tree is found by its cgroup (the recorded
 * folders, and any non-empty run cgroup of this home's tree), by its recorded leader (pid and
 * start time, the same boot) and by the run's key in its processes' environment (what left the
 * process group). Each gets SIGTERM, then SIGKILL after the grace period. The records are removed.
 */
export async function endLeftovers(settings: LeftoverSettings): Promise<LeftoverReport> {
  const records = await settings.records.readAll();
  const current = records.filter((record) => record.boot_id === bootId());
  const apps = new Set<string>();
  const endings: Promise<unknown>[] = [];

  const cgroups = new Map<string, RunCgroup>();
  for (const record of current) {
    const cgroup = record.cgroup && RunCgroup.fromRecord(record.cgroup.mode, record.cgroup.dirs);
    if (cgroup && !cgroup.isEmpty()) {
      cgroups.set(cgroup.dirs[0].dir, cgroup);
      apps.add(record.app);
    }
  }
  for (const cgroup of settings.cgroups?.leftoverRuns() ?? []) cgroups.set(cgroup.dirs[0].dir, cgroup);
  for (const cgroup of cgroups.values()) endings.push(cgroup.terminate(settings.graceMs).then(() => cgroup.remove()));

  const leaders = current.filter((record) => isSameProcess(record.pid, record.start_ticks));
  for (const record of leaders) {
    apps.add(record.app);
    endings.push(terminateGroup(record.pid, settings.graceMs), terminatePids([record.pid], settings.graceMs));
  }

  const byKey = new Map<string, RunRecord>(current.map((record) => [record.key_sha256, record]));
  const strays = byKey.size ? await findProcessesByEnv(PROCESS_KEY_ENV, (value) => (byKey.has(sha256(value)) ? sha256(value) : undefined)) : new Map<string, number[]>();
  for (const [key, pids] of strays) {
    apps.add(byKey.get(key)!.app);
    endings.push(terminatePids(pids, settings.graceMs));
  }

  await Promise.all(endings);
  await Promise.all(records.map((record) => settings.records.remove(record.uuid)));
  return { apps: [...apps].sort(), found: endings.length > 0 };
}
