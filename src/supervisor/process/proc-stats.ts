import { readdir, readFile } from 'node:fs/promises';

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

async function readProcEntry(pid: number): Promise<ProcEntry | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
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

/** One scan of /proc for all requested groups (cheap enough for a list of many apps). */
export async function readGroupUsage(pgids: readonly number[]): Promise<Map<number, GroupUsage>> {
  const result = new Map<number, GroupUsage>();
  if (pgids.length === 0) return result;
  const wanted = new Set(pgids);
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return result;
  }
  const entries = (await Promise.all(names.filter((name) => /^\d+$/.test(name)).map((name) => readProcEntry(Number(name)))))
    .filter((entry): entry is ProcEntry => entry !== undefined && wanted.has(entry.pgid));
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
