import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseCgroupMembership, parseMountInfo, type MountInfo } from './mountinfo.js';
import { readCgroupFile } from './cgroup-files.js';

export type CgroupMode = 'v2' | 'v1' | 'none';

/** A cgroup hierarchy the daemon may create children in: its own cgroup there, and the controllers it carries. */
export interface Hierarchy {
  dir: string;
  controllers: string[];
}

export type CgroupDetection =
  | { mode: 'v2'; hierarchy: Hierarchy }
  | { mode: 'v1'; hierarchies: Hierarchy[] }
  | { mode: 'none'; reason: string };

/** Without them a process tree can be neither bounded nor killed as a whole. */
const REQUIRED = ['memory', 'pids'];
const V2_OPTIONAL = ['cpu'];
const V1_OPTIONAL = ['cpu', 'freezer'];

export interface DetectSources {
  mountInfo: string;
  selfCgroup: string;
}

function readSources(): DetectSources | undefined {
  try {
    return { mountInfo: readFileSync('/proc/self/mountinfo', 'utf8'), selfCgroup: readFileSync('/proc/self/cgroup', 'utf8') };
  } catch {
    return undefined;
  }
}

/**
 * Which cgroups the daemon can use, in this order: v2 (its own cgroup under the cgroup2 mount,
 * with memory and pids available), else v1 (memory and pids hierarchies, cpu and freezer when
 * present, each at the daemon's own cgroup of that controller), else none with the reason.
 * Whether the folders are writable is found out when the daemon's tree is created in them.
 */
export function detectCgroups(sources: DetectSources | undefined = readSources()): CgroupDetection {
  if (process.platform !== 'linux') return { mode: 'none', reason: 'cgroups exist on Linux only' };
  if (!sources) return { mode: 'none', reason: '/proc/self/mountinfo or /proc/self/cgroup is not readable' };
  const mounts = parseMountInfo(sources.mountInfo);
  const membership = parseCgroupMembership(sources.selfCgroup);
  const reasons: string[] = [];

  const unified = mounts.find((mount) => mount.fsType === 'cgroup2');
  if (unified && membership.has('')) {
    const dir = ownDir(unified, membership.get('')!);
    const available = (readCgroupFile(dir, 'cgroup.controllers') ?? '').split(/\s+/).filter(Boolean);
    const missing = REQUIRED.filter((controller) => !available.includes(controller));
    if (missing.length === 0 && !unified.mountOptions.includes('ro')) {
      return { mode: 'v2', hierarchy: { dir, controllers: [...REQUIRED, ...V2_OPTIONAL.filter((controller) => available.includes(controller))] } };
    }
    reasons.push(missing.length ? `cgroup v2 at ${unified.mountPoint} lacks ${missing.join(', ')}` : `cgroup v2 at ${unified.mountPoint} is read-only`);
  }

  const hierarchies: Hierarchy[] = [];
  const missing: string[] = [];
  for (const controller of [...REQUIRED, ...V1_OPTIONAL]) {
    const mount = mounts.find((entry) => entry.fsType === 'cgroup' && entry.superOptions.includes(controller) && !entry.mountOptions.includes('ro'));
    const path = membership.get(controller);
    if (!mount || path === undefined) {
      if (REQUIRED.includes(controller)) missing.push(controller);
      continue;
    }
    const dir = ownDir(mount, path);
    // Controllers mounted together (cpu,cpuacct) share one folder: one hierarchy.
    const shared = hierarchies.find((hierarchy) => hierarchy.dir === dir);
    if (shared) shared.controllers.push(controller);
    else hierarchies.push({ dir, controllers: [controller] });
  }
  if (missing.length === 0) return { mode: 'v1', hierarchies };
  reasons.push(`no writable cgroup v1 hierarchy for ${missing.join(', ')}`);
  return { mode: 'none', reason: reasons.join('; ') };
}

/**
 * The daemon's cgroup folder in one hierarchy. The path in /proc/self/cgroup is relative to the
 * hierarchy's root; the mount may show only a sub-folder of it (containers), or the path may not
 * exist below it (a cgroup namespace): then the mount itself is the daemon's cgroup.
 */
function ownDir(mount: MountInfo, path: string): string {
  const inside = relative(mount.root, path);
  const dir = inside.startsWith('..') ? join(mount.mountPoint, path) : join(mount.mountPoint, inside);
  return existsSync(dir) ? dir : mount.mountPoint;
}
