import type { RunCgroup } from '../../containment/run-cgroup.js';
import { groupExists, terminateGroup, terminatePids } from './process-group.js';
import { findProcessesByEnv } from './proc-identity.js';

/** The processes of one run, stopped as a whole: its cgroup, or its process group without cgroups. */
export interface ProcessTree {
  /** True when no process of the tree is left. */
  isEmpty(): boolean;
  /** SIGTERM to all, SIGKILL after `graceMs` to what is left; resolves once it is empty (or given up). */
  terminate(graceMs: number): Promise<unknown>;
  /** Processes the kernel's OOM killer ended (0 where it cannot be known). */
  oomKills(): number;
  peakMemoryBytes(): number | undefined;
  /** Frees what the tree held (the cgroup folders) once it is empty. */
  release(): Promise<void>;
}

/**
 * `leaderExited`: the first process's exit as the daemon learns it; a stop waits for that event,
 * and polls only for processes that outlive the leader.
 *
 * cgroup: everything forked stays in it, whatever session or group it makes for itself. The
 * launcher (leading its own process group) enters the cgroup a moment after it starts: a stop in
 * that moment finds the cgroup empty, so the group is signalled too, then the cgroup again for
 * whatever the launcher started once inside. A run reported only once its command runs
 * (`enteredBeforeReport`) was in the cgroup before anything of it could fork: an empty cgroup is
 * an empty tree, without asking for the group (a failed signal costs an exception).
 */
export function cgroupTree(cgroup: RunCgroup, leaderPgid: number, leaderExited?: Promise<unknown>, enteredBeforeReport = false): ProcessTree {
  return {
    isEmpty: () => cgroup.isEmpty() && (enteredBeforeReport || !groupExists(leaderPgid)),
    terminate: async (graceMs) => {
      await Promise.all([cgroup.terminate(graceMs, leaderExited), terminateGroup(leaderPgid, graceMs, leaderExited)]);
      if (!cgroup.isEmpty()) await cgroup.killAll();
    },
    oomKills: () => cgroup.oomKills(),
    peakMemoryBytes: () => cgroup.peakMemoryBytes(),
    release: () => cgroup.remove(),
  };
}

/**
 * Process group led by the run's first process: `setsid` or a double fork escapes it. A stop
 * also looks for processes that still carry the run's variable `markerName=markerValue` in their
 * environment (one scan of /proc), so those escaped while the leader lived go with it.
 */
export function processGroupTree(pgid: number, marker?: { name: string; value: string }, leaderExited?: Promise<unknown>): ProcessTree {
  const strays = async (): Promise<number[]> => {
    if (!marker) return [];
    return (await findProcessesByEnv(marker.name, (value) => (value === marker.value ? 'run' : undefined))).get('run') ?? [];
  };
  return {
    isEmpty: () => !groupExists(pgid),
    terminate: async (graceMs) => {
      await Promise.all([terminateGroup(pgid, graceMs, leaderExited), strays().then((pids) => terminatePids(pids, graceMs))]);
    },
    oomKills: () => 0,
    peakMemoryBytes: () => undefined,
    release: async () => undefined,
  };
}
