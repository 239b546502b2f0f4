import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';

/** Resource usage of a process group read from /proc (Linux); empty where /proc is absent. */
export interface GroupUsage {
  pids: number[];
  memoryBytes: number;
  cpuTicks: number;
  fds: number;
  tree: string;
}

interface ProcEntry {
  pid: number;
  ppid: number;
  pgid: number;
  comm: string;
  utime: number;
  stime: number;
  rssPages: number;
}

const PAGE_SIZE = 4096;

/**
 * A /proc stat file is made by the kernel on read: a synchronous read costs microseconds, where an
 * asynchronous one costs four thread-pool round trips (open, stat, read, close).
 */
function readProcEntry(pid: number): ProcEntry | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: split after the last ')'.
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    return {
      pid,
      comm,
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      utime: Number(fields[11]),
      stime: Number(fields[12]),
      rssPages: Number(fields[21]),
    };
  } catch {
    return undefined;
  }
}

async function countFds(pid: number): Promise<number> {
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return 0;
  }
}

/** Entries read between two turns of the event loop: a scan of a busy host never stalls it for long. */
const SCAN_CHUNK = 128;
let scanInFlight: Promise<ProcEntry[]> | undefined;

/** Every process of the host; callers that ask while a scan runs share it (one scan serves many views). */
function scanProcesses(): Promise<ProcEntry[]> {
  scanInFlight ??= (async () => {
    let names: string[];
    try {
      names = await readdir('/proc');
    } catch {
      return [];
    }
    const pids = names.filter((name) => /^\d+$/.test(name)).map(Number);
    const entries: ProcEntry[] = [];
    for (let from = 0; from < pids.length; from += SCAN_CHUNK) {
      if (from > 0) await new Promise((resolve) => setImmediate(resolve));
      for (const pid of pids.slice(from, from + SCAN_CHUNK)) {
        const entry = readProcEntry(pid);
        if (entry) entries.push(entry);
      }
    }
    return entries;
  })().finally(() => {
    scanInFlight = undefined;
  });
  return scanInFlight;
}

/** One scan of /proc for all requested groups (cheap enough for a list of many apps). */
export async function readGroupUsage(pgids: readonly number[]): Promise<Map<number, GroupUsage>> {
  const result = new Map<number, GroupUsage>();
  if (pgids.length === 0) return result;
  const wanted = new Set(pgids);
  const entries = (await scanProcesses()).filter((entry) => wanted.has(entry.pgid));
  for (const pgid of wanted) {
    const members = entries.filter((entry) => entry.pgid === pgid);
    if (members.length === 0) continue;
    const fds = await Promise.all(members.map((entry) => countFds(entry.pid)));
    result.set(pgid, {
      pids: members.map((entry) => entry.pid),
      memoryBytes: members.reduce((sum, entry) => sum + entry.rssPages * PAGE_SIZE, 0),
      cpuTicks: members.reduce((sum, entry) => sum + entry.utime + entry.stime, 0),
      fds: fds.reduce((sum, count) => sum + count, 0),
      tree: formatTree(members, pgid),
    });
  }
  return result;
}

function formatTree(members: ProcEntry[], root: number): string {
  const children = new Map<number, ProcEntry[]>();
  for (const entry of members) children.set(entry.ppid, [...(children.get(entry.ppid) ?? []), entry]);
  const lines: string[] = [];
  const walk = (entry: ProcEntry, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${entry.comm}(${entry.pid})`);
    for (const child of children.get(entry.pid) ?? []) walk(child, depth + 1);
  };
  const rootEntry = members.find((entry) => entry.pid === root);
  const tops = rootEntry ? [rootEntry] : members.filter((entry) => !members.some((other) => other.pid === entry.ppid));
  for (const top of tops) walk(top, 0);
  return lines.join('\n');
}
