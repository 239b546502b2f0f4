import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { CgroupSetupFailed, type CgroupAtFork } from './spawn-request.js';

/**
 * Makes a run's cgroup folders and writes its limits in the daemon itself, for the spawners that
 * do not (the Node spawner, a fork in the daemon): what the fork server does before its fork.
 * A folder already there is this run's own (its name holds the run's uuid), made by a start that
 * was handed on. On failure every folder made here is removed again.
 */
export function makeCgroupHere(cgroup: CgroupAtFork): void {
  const made: string[] = [];
  try {
    for (const folder of cgroup.folders) {
      try {
        mkdirSync(folder);
        made.push(folder);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    for (const [file, value] of cgroup.writes) writeFileSync(file, value);
  } catch (error) {
    for (const folder of made.reverse()) {
      try {
        rmdirSync(folder);
      } catch {
        // Entered meanwhile: the run's removal takes it.
      }
    }
    throw new CgroupSetupFailed((error as NodeJS.ErrnoException).code ?? (error as Error).message);
  }
}
