import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { MountEntry } from './mounts.js';
import { parseCgroupMembership } from '../containment/mountinfo.js';

export type CgroupVersion = 'none' | 'v1' | 'v2';

/** Limits of the daemon's own cgroup (the tightest of it and its ancestors); undefined = none. */
export interface CgroupLimits {
  version: CgroupVersion;
  cpuQuotaCores?: number;
  memoryLimitBytes?: number;
  memoryCurrentBytes?: number;
  swapLimitBytes?: number;
  swapCurrentBytes?: number;
}

// cgroup v1 writes "no limit" as a huge page-aligned number (e.g. 9223372036854771712).
const UNLIMITED_FROM = 2 ** 60;

/** Reads the daemon's cgroup limits: v2 unified, else v1 controllers (also in hybrid setups). */
export async function readCgroupLimits(mounts: readonly MountEntry[], selfCgroupFile = '/proc/self/cgroup'): Promise<CgroupLimits> {
  const v1 = mounts.filter((mount) => mount.fsType === 'cgroup');
  const v2 = mounts.find((mount) => mount.fsType === 'cgroup2');
  const cpuMount = v1.find((mount) => mount.options.includes('cpu'));
  const memoryMount = v1.find((mount) => mount.options.includes('memory'));
  let membership: Map<string, string>;
  try {
    membership = parseCgroupMembership(await readFile(selfCgroupFile, 'utf8'));
  } catch {
    membership = new Map();
  }
  if (cpuMount || memoryMount) return readV1(cpuMount, memoryMount, membership);
  if (v2) return readV2(v2.mountPoint, membership.get('') ?? '/');
  return { version: 'none' };
}

async function readV2(root: string, path: string): Promise<CgroupLimits> {
  const dirs = hierarchy(root, path);
  const cpuQuotaCores = minimum(await Promise.all(dirs.map(async (dir) => parseCpuMax(await readText(join(dir, 'cpu.max'))))));
  const memoryLimitBytes = minimum(await Promise.all(dirs.map(async (dir) => limitValue(await readText(join(dir, 'memory.max'))))));
  const swapLimitBytes = minimum(await Promise.all(dirs.map(async (dir) => limitValue(await readText(join(dir, 'memory.swap.max'))))));
  return {
    version: 'v2',
    cpuQuotaCores,
    memoryLimitBytes,
    memoryCurrentBytes: limitValue(await readText(join(dirs[0], 'memory.current'))),
    swapLimitBytes,
    swapCurrentBytes: limitValue(await readText(join(dirs[0], 'memory.swap.current'))),
  };
}

async function readV1(cpuMount: MountEntry | undefined, memoryMount: MountEntry | undefined, membership: Map<string, string>): Promise<CgroupLimits> {
  const limits: CgroupLimits = { version: 'v1' };
  if (cpuMount) {
    const dirs = hierarchy(cpuMount.mountPoint, membership.get('cpu') ?? '/');
    limits.cpuQuotaCores = minimum(
      await Promise.all(
        dirs.map(async (dir) => {
          const quota = Number(await readText(join(dir, 'cpu.cfs_quota_us')));
          const period = Number(await readText(join(dir, 'cpu.cfs_period_us')));
          return quota > 0 && period > 0 ? quota / period : undefined;
        }),
      ),
    );
  }
  if (memoryMount) {
    const dirs = hierarchy(memoryMount.mountPoint, membership.get('memory') ?? '/');
    const memory = minimum(await Promise.all(dirs.map(async (dir) => limitValue(await readText(join(dir, 'memory.limit_in_bytes'))))));
    const memoryAndSwap = minimum(await Promise.all(dirs.map(async (dir) => limitValue(await readText(join(dir, 'memory.memsw.limit_in_bytes'))))));
    const usage = limitValue(await readText(join(dirs[0], 'memory.usage_in_bytes')));
    const usageAndSwap = limitValue(await readText(join(dirs[0], 'memory.memsw.usage_in_bytes')));
    limits.memoryLimitBytes = memory;
    limits.memoryCurrentBytes = usage;
    // v1 limits memory + swap together: the swap share is the difference.
    if (memory !== undefined && memoryAndSwap !== undefined) limits.swapLimitBytes = Math.max(0, memoryAndSwap - memory);
    if (usage !== undefined && usageAndSwap !== undefined) limits.swapCurrentBytes = Math.max(0, usageAndSwap - usage);
  }
  return limits;
}

/**
 * The daemon's cgroup folder and its ancestors up to the mount. In a cgroup namespace the
 * listed path may not exist below the mount: the mount itself is then the daemon's cgroup.
 */
function hierarchy(mountPoint: string, path: string): string[] {
  let dir = join(mountPoint, path).replace(/\/+$/, '') || '/';
  if (!existsSync(dir)) dir = mountPoint;
  const dirs = [dir];
  while (dir !== mountPoint) {
    dir = dirname(dir);
    if (!dir.startsWith(mountPoint)) break;
    dirs.push(dir);
  }
  return dirs;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

/** `cpu.max`: `max 100000` (no quota) or `<quota> <period>`. */
function parseCpuMax(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').split(/\s+/).map(Number);
  return quota > 0 && period > 0 ? quota / period : undefined;
}

function limitValue(text: string | undefined): number | undefined {
  if (text === undefined || text === 'max' || text === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 && value < UNLIMITED_FROM ? value : undefined;
}

function minimum(values: readonly (number | undefined)[]): number | undefined {
  const defined = values.filter((value): value is number => value !== undefined);
  return defined.length ? Math.min(...defined) : undefined;
}
