import { readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Reads one cgroup file (trimmed); undefined when it is absent or unreadable. */
export function readCgroupFile(dir: string, name: string): string | undefined {
  try {
    return readFileSync(join(dir, name), 'utf8').trim();
  } catch {
    return undefined;
  }
}

const fdReadBuffer = Buffer.allocUnsafe(8192);

/** Reads a cgroup file opened before (from its start, trimmed); undefined when unreadable. */
export function readCgroupFd(fd: number): string | undefined {
  try {
    let text = '';
    for (let position = 0; ; ) {
      const length = readSync(fd, fdReadBuffer, 0, fdReadBuffer.length, position);
      if (length === 0) return text.trim();
      text += fdReadBuffer.toString('latin1', 0, length);
      position += length;
    }
  } catch {
    return undefined;
  }
}

/** Writes one cgroup file; throws what the kernel said (EBUSY, EINVAL, ENOENT...). */
export function writeCgroupFile(dir: string, name: string, value: string): void {
  writeFileSync(join(dir, name), value);
}

/** Writes when the file exists; returns the error message instead of throwing. */
export function tryWriteCgroupFile(dir: string, name: string, value: string): string | undefined {
  try {
    writeCgroupFile(dir, name, value);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  }
}

/** The processes (thread-group ids) in a cgroup.procs text; empty when it is gone. */
export function parsePids(text: string | undefined): number[] {
  if (!text) return [];
  return text.split('\n').map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** `key value` lines (memory.events, memory.oom_control) → the value of `key`. */
export function flatKeyedValue(text: string | undefined, key: string): number | undefined {
  const match = new RegExp(`^${key}\\s+(\\d+)$`, 'm').exec(text ?? '');
  return match ? Number(match[1]) : undefined;
}

/** Sends a signal to each pid; a pid that is already gone is no error. */
export function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Exited meanwhile.
    }
  }
}
