import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { detectCgroups } from '../src/containment/cgroup-detect.js';
import { Cgroups } from '../src/containment/cgroups.js';

// A daemon killed with -9 leaves its (empty) cgroup folders behind, one tree per home. The next
// daemon to start, on any home, removes the trees that hold nothing, and only those.

const detection = process.getuid?.() === 0 ? detectCgroups() : undefined;
const parents = detection?.mode === 'v1' ? detection.hierarchies.map((hierarchy) => hierarchy.dir) : detection?.mode === 'v2' ? [detection.hierarchy.dir] : [];
const hour = (Date.now() - 3_600_000) / 1000;
const made: string[] = [];
const sleepers: number[] = [];

/** A tree `appmesh-<12 hex>/user-x/run-<uuid>` in every hierarchy; `old` dates every folder an hour back. */
function tree(old: boolean): { instance: string; runs: string[] } {
  const instance = `appmesh-${randomBytes(6).toString('hex')}`;
  const runs: string[] = [];
  for (const parent of parents) {
    const run = join(parent, instance, 'user-x', `run-${randomUUID()}`);
    mkdirSync(run, { recursive: true });
    made.push(run, join(parent, instance, 'user-x'), join(parent, instance));
    if (old) for (const dir of [run, join(parent, instance, 'user-x'), join(parent, instance)]) utimesSync(dir, hour, hour);
    runs.push(run);
  }
  return { instance, runs };
}

afterAll(() => {
  for (const pid of sleepers) process.kill(pid, 'SIGKILL');
  setTimeout(() => {
    for (const dir of made) {
      try {
        rmdirSync(dir);
      } catch {
        // Removed by the code under test.
      }
    }
  }, 200);
});

describe.runIf(parents.length > 0)('cgroup trees of daemons that were killed', () => {
  test('an abandoned empty tree goes; a recent one and one still holding a process stay', async () => {
    const abandoned = tree(true);
    const recent = tree(false);
    const busy = tree(true);
    const sleeper = spawn('sleep', ['300'], { stdio: 'ignore', detached: true });
    sleepers.push(sleeper.pid!);
    for (const run of busy.runs) writeFileSync(join(run, 'cgroup.procs'), String(sleeper.pid));
    for (const run of busy.runs) utimesSync(run, hour, hour);

    const cgroups = Cgroups.open({ home: `/siblings-test-${randomUUID()}`, enabled: true, limits: { maxProcesses: () => 1000, maxMemoryMB: () => 0 }, log: () => undefined });
    try {
      expect(cgroups.enabled).toBe(true);
      await cgroups.siblingsRemoved;
      for (const parent of parents) {
        expect(existsSync(join(parent, abandoned.instance))).toBe(false);
        expect(existsSync(join(parent, recent.instance))).toBe(true);
      }
      for (const run of [...recent.runs, ...busy.runs]) expect(existsSync(run)).toBe(true);
    } finally {
      cgroups.close();
    }
  });
});
