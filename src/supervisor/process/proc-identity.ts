import { readFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';

/**
 * What tells one process apart from a later one that reuses its pid: its start time in clock
 * ticks after boot (/proc/<pid>/stat field 22), within one boot of the host.
 */
export function readStartTicks(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses: fields are counted after the last ')'; field 3 comes first.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isInteger(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

let cachedBootId: string | undefined;

/** This boot of the host: pids and start times of another boot mean nothing. */
export function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = '';
    }
  }
  return cachedBootId;
}

/** True when `pid` is the very process that was started at `startTicks`. */
export function isSameProcess(pid: number, startTicks: number): boolean {
  return readStartTicks(pid) === startTicks;
}

/**
 * Processes whose environment holds `name=<value>` with a value `match` recognises, read from
 * /proc/<pid>/environ (the environment they were started with), excluding the daemon itself.
 * Without cgroups this is how a run's processes that left its process group (`setsid`, a double
 * fork) are still found: they inherit the run's variable. Returns match result → pids.
 */
export async function findProcessesByEnv(name: string, match: (value: string) => string | undefined): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>();
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return found;
  }
  const prefix = Buffer.from(`${name}=`);
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
      .map(async (entry) => {
        let environ: Buffer;
        try {
          environ = await readFile(`/proc/${entry}/environ`);
        } catch {
          return;
        }
        for (let start = 0; start < environ.length; ) {
          let end = environ.indexOf(0, start);
          if (end < 0) end = environ.length;
          if (end - start > prefix.length && environ.subarray(start, start + prefix.length).equals(prefix)) {
            const key = match(environ.subarray(start + prefix.length, end).toString('utf8'));
            if (key !== undefined) found.set(key, [...(found.get(key) ?? []), Number(entry)]);
            return;
          }
          start = end + 1;
        }
      }),
  );
  return found;
}
