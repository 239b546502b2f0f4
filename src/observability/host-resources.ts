import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { readGroupUsage } from '../supervisor/process/proc-stats.js';
import { formatLocalTime } from '../supervisor/schedule/time-text.js';
import { readCgroupLimits, type CgroupLimits } from './cgroup.js';
import type { ContainmentReport } from '../containment/containment.js';
import { daemonTreeUsage } from './daemon-usage.js';
import { filesystemUsage, type FilesystemUsage } from './filesystems.js';
import { readMounts, type MountEntry } from './mounts.js';

export const RESOURCES_SCHEMA_VERSION = 3;

export interface HostResourceInput {
  /** Process groups (= pids) of the applications that run now. */
  appProcessGroups: readonly number[];
  version: string;
  description: string;
  home: string;
  startedAtMs: number;
  timezoneOffsetMinutes?: number;
  /** How the processes the daemon starts are contained. */
  containment: ContainmentReport;
}

export interface NetAddress {
  name: string;
  address: string;
  ipv6: boolean;
}

/** `GET /appmesh/resources` (schema 3). Every byte and count is an integer. */
export interface HostResources {
  schema_version: number;
  collected_at_unix_seconds: number;
  collector_errors: string[];
  in_container: boolean;
  appmesh_version: string;
  os: 'linux' | 'macos' | 'windows' | 'unknown';
  architecture: 'amd64' | 'arm64' | '386' | 'unknown';
  host_name: string;
  host_description: string;
  os_user: string;
  home: string;
  pid: number;
  net: NetAddress[];
  cpu_cores: number;
  cpu_sockets: number;
  cpu_processors: number;
  cpu_effective_processors: number;
  cpu_quota_cores: number;
  cpu_source: 'host' | 'cgroup';
  memory_source: 'host' | 'cgroup';
  swap_source: 'host' | 'cgroup';
  cgroup_version: CgroupLimits['version'];
  mem_total_bytes: number;
  mem_available_bytes: number;
  mem_current_bytes: number;
  mem_swap_total_bytes: number;
  mem_swap_free_bytes: number;
  mem_swap_current_bytes: number;
  mem_daemon_process_tree_bytes: number;
  mem_applications: number;
  fd: number;
  load?: { '1min': number; '5min': number; '15min': number };
  fs: FilesystemUsage[];
  systime: string;
  appmesh_start_time: string;
  appmesh_start_time_unix_seconds: number;
  /** cgroups (mode, controllers, why not) and how processes change to their user. */
  containment: ContainmentReport;
}

interface HostMemory {
  total: number;
  available: number;
  swapTotal: number;
  swapFree: number;
}

/** Collects the host's resources; a failing collector is listed in `collector_errors`, never fatal. */
export async function collectHostResources(input: HostResourceInput): Promise<HostResources> {
  const errors: string[] = [];
  const now = Date.now();

  let mounts: MountEntry[] | undefined;
  try {
    mounts = await readMounts();
  } catch {
    // Not Linux, or /proc hidden: no cgroups, no file systems.
  }
  let cgroup: CgroupLimits = { version: 'none' };
  if (mounts) {
    try {
      cgroup = await readCgroupLimits(mounts);
    } catch {
      errors.push('cgroup_unavailable');
    }
  }

  const cpu = await cpuTopology().catch(() => {
    errors.push('cpu_info_unavailable');
    return { processors: 1, cores: 1, sockets: 1 };
  });
  const quota = cgroup.cpuQuotaCores ?? 0;
  const cpuLimited = quota > 0 && quota < cpu.processors;
  const usable = Math.max(1, Math.min(cpu.processors, os.availableParallelism()));
  const effective = cpuLimited ? Math.min(usable, Math.max(1, Math.ceil(quota))) : usable;

  const host = await hostMemory().catch(() => {
    errors.push('memory_unavailable');
    return { total: os.totalmem(), available: os.freemem(), swapTotal: 0, swapFree: 0 };
  });
  const memoryLimited = cgroup.memoryLimitBytes !== undefined && cgroup.memoryLimitBytes < host.total;
  const memTotal = memoryLimited ? cgroup.memoryLimitBytes! : host.total;
  const memCurrent = memoryLimited && cgroup.memoryCurrentBytes !== undefined ? cgroup.memoryCurrentBytes : host.total - host.available;
  const memAvailable = memoryLimited ? Math.max(0, Math.min(memTotal - memCurrent, host.available)) : host.available;
  const swapLimited = cgroup.swapLimitBytes !== undefined && cgroup.swapLimitBytes < host.swapTotal;
  const swapTotal = swapLimited ? cgroup.swapLimitBytes! : host.swapTotal;
  const swapCurrent = swapLimited ? (cgroup.swapCurrentBytes ?? 0) : host.swapTotal - host.swapFree;
  const swapFree = swapLimited ? Math.max(0, swapTotal - swapCurrent) : host.swapFree;

  const groups = await readGroupUsage([...new Set(input.appProcessGroups)]);
  const applications = [...groups.values()];
  const tree = await daemonTreeUsage(applications);

  let fs: FilesystemUsage[] = [];
  if (mounts) {
    const usage = await filesystemUsage(mounts);
    fs = usage.entries;
    if (usage.failed) errors.push('filesystem_usage_unavailable');
  } else errors.push('filesystem_usage_unavailable');

  const load = loadAverage();
  if (!load) errors.push('load_average_unavailable');
  const net = networkAddresses();
  if (!net) errors.push('network_interfaces_unavailable');

  const startedAtSeconds = Math.floor(input.startedAtMs / 1000);
  const nowSeconds = Math.floor(now / 1000);
  const int = (value: number) => Math.max(0, Math.round(value));
  return {
    schema_version: RESOURCES_SCHEMA_VERSION,
    collected_at_unix_seconds: nowSeconds,
    collector_errors: errors,
    in_container: await inContainer(),
    appmesh_version: input.version,
    os: osName(),
    architecture: architectureName(),
    host_name: os.hostname(),
    host_description: input.description,
    os_user: daemonUserName(),
    home: input.home,
    pid: process.pid,
    net: net ?? [],
    cpu_cores: cpu.cores,
    cpu_sockets: cpu.sockets,
    cpu_processors: cpu.processors,
    cpu_effective_processors: effective,
    cpu_quota_cores: Math.round(quota * 1000) / 1000,
    cpu_source: cpuLimited ? 'cgroup' : 'host',
    memory_source: memoryLimited ? 'cgroup' : 'host',
    swap_source: swapLimited ? 'cgroup' : 'host',
    cgroup_version: cgroup.version,
    mem_total_bytes: int(memTotal),
    mem_available_bytes: int(memAvailable),
    mem_current_bytes: int(memCurrent),
    mem_swap_total_bytes: int(swapTotal),
    mem_swap_free_bytes: int(swapFree),
    mem_swap_current_bytes: int(swapCurrent),
    mem_daemon_process_tree_bytes: int(tree.memoryBytes),
    mem_applications: int(applications.reduce((sum, group) => sum + group.memoryBytes, 0)),
    fd: int(tree.fds),
    ...(load ? { load } : {}),
    fs,
    systime: formatLocalTime(nowSeconds, input.timezoneOffsetMinutes),
    appmesh_start_time: formatLocalTime(startedAtSeconds, input.timezoneOffsetMinutes),
    appmesh_start_time_unix_seconds: startedAtSeconds,
    containment: input.containment,
  };
}

/** Logical processors, physical cores and sockets (from /proc/cpuinfo where it says so). */
async function cpuTopology(): Promise<{ processors: number; cores: number; sockets: number }> {
  const processors = os.cpus().length || os.availableParallelism();
  let text = '';
  try {
    text = await readFile('/proc/cpuinfo', 'utf8');
  } catch {
    return { processors, cores: processors, sockets: 1 };
  }
  const sockets = new Set<string>();
  const cores = new Set<string>();
  for (const block of text.split(/\n\s*\n/)) {
    const socket = /^physical id\s*:\s*(\S+)/m.exec(block)?.[1];
    const core = /^core id\s*:\s*(\S+)/m.exec(block)?.[1];
    if (socket === undefined) continue;
    sockets.add(socket);
    if (core !== undefined) cores.add(`${socket}/${core}`);
  }
  // ARM and virtual machines often omit the topology: one socket, one core per processor.
  return { processors, cores: cores.size || processors, sockets: sockets.size || 1 };
}

async function hostMemory(): Promise<HostMemory> {
  if (process.platform !== 'linux') return { total: os.totalmem(), available: os.freemem(), swapTotal: 0, swapFree: 0 };
  const text = await readFile('/proc/meminfo', 'utf8');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s*kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const total = field('MemTotal');
  if (total === undefined) throw new Error('no MemTotal in /proc/meminfo');
  return { total, available: field('MemAvailable') ?? field('MemFree') ?? os.freemem(), swapTotal: field('SwapTotal') ?? 0, swapFree: field('SwapFree') ?? 0 };
}

function loadAverage(): HostResources['load'] {
  // Windows has no load average (Node answers zeros there).
  if (process.platform === 'win32') return undefined;
  try {
    const [one, five, fifteen] = os.loadavg();
    return { '1min': one, '5min': five, '15min': fifteen };
  } catch {
    return undefined;
  }
}

function networkAddresses(): NetAddress[] | undefined {
  try {
    return Object.entries(os.networkInterfaces()).flatMap(([name, addresses]) =>
      (addresses ?? []).filter((address) => !address.internal).map((address) => ({ name, address: address.address, ipv6: address.family === 'IPv6' })),
    );
  } catch {
    return undefined;
  }
}

async function inContainer(): Promise<boolean> {
  if (process.env.container || existsSync('/.dockerenv') || existsSync('/run/.containerenv')) return true;
  try {
    return /docker|kubepods|containerd|libpod|lxc/.test(await readFile('/proc/1/cgroup', 'utf8'));
  } catch {
    return false;
  }
}

function osName(): HostResources['os'] {
  switch (process.platform) {
    case 'linux':
      return 'linux';
    case 'darwin':
      return 'macos';
    case 'win32':
      return 'windows';
    default:
      return 'unknown';
  }
}

function architectureName(): HostResources['architecture'] {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'arm64':
      return 'arm64';
    case 'ia32':
      return '386';
    default:
      return 'unknown';
  }
}

function daemonUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? '');
  }
}
