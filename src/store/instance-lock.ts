import { spawn } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, ftruncateSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** `<home>/appmesh.pid`: the pid of the daemon holding the home, for `kill -HUP $(cat …)`. */
export const PID_FILE = 'appmesh.pid';

const FLOCK_PATHS = ['/usr/bin/flock', '/bin/flock'];

/** Locks held by this process: an exit without close (a forced stop) still removes their pid files. */
const held = new Set<InstanceLock>();
let exitHookInstalled = false;

export class HomeInUseError extends Error {
  constructor(
    readonly home: string,
    readonly pid: number | undefined,
  ) {
    super(`App Mesh TS is already running on the home ${home} (${pid ? `pid ${pid}` : 'pid unknown'}); stop it first or choose another home`);
    this.name = 'HomeInUseError';
  }
}

/**
 * One daemon per home. The pid file is also the lock: an exclusive flock(2) on it, taken by the
 * util-linux `flock` program on a descriptor this process keeps open (Node has no flock call;
 * the lock belongs to the open file, so it stays after the helper exits). The kernel drops it
 * when this process ends in any way, SIGKILL included, so a lock is never stale: no guessing
 * from pids (reused) or start times, and it holds across pid and network namespaces that share
 * the home. Where `flock` is missing, the pid in the file is checked instead (a live process
 * that started before the file was written holds it), which two simultaneous starts can both
 * pass: that weaker mode is reported. The helper runs beside the event loop, not blocking it: the
 * daemon's command takes the lock while its modules load.
 */
export class InstanceLock {
  private constructor(
    private readonly path: string,
    private fd: number | undefined,
  ) {}

  static async acquire(home: string, warn: (message: string) => void): Promise<InstanceLock> {
    const path = join(home, PID_FILE);
    // A holder that just removed the file leaves its old inode to whoever opened it before: retry on the new one.
    for (let attempt = 0; ; attempt++) {
      const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
      try {
        const locked = await tryFlock(fd);
        if (locked === 'unavailable') {
          const holder = livePidIn(path);
          if (holder !== undefined && holder !== process.pid) throw new HomeInUseError(home, holder);
          warn('flock(1) was not found: the one-daemon-per-home lock relies on the pid file alone (install util-linux)');
        } else if (!locked) {
          throw new HomeInUseError(home, await pidIn(path));
        }
        if (!sameFile(fd, path)) {
          if (attempt < 5) {
            closeSync(fd);
            continue;
          }
          throw new Error(`${path} keeps being replaced while the lock is taken`);
        }
        ftruncateSync(fd, 0);
        writeSync(fd, `${process.pid}\n`, 0);
        const lock = new InstanceLock(path, fd);
        held.add(lock);
        if (!exitHookInstalled) {
          exitHookInstalled = true;
          process.once('exit', () => {
            for (const each of held) each.release();
          });
        }
        return lock;
      } catch (error) {
        closeSync(fd);
        throw error;
      }
    }
  }

  /** Removes the pid file while still holding the lock, then lets the lock go. */
  release(): void {
    held.delete(this);
    if (this.fd === undefined) return;
    try {
      if (sameFile(this.fd, this.path)) unlinkSync(this.path);
    } catch {
      // Already gone: nothing to undo.
    }
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** true: locked; false: another open file holds it; 'unavailable': no flock program here. */
function tryFlock(fd: number): Promise<boolean | 'unavailable'> {
  const program = FLOCK_PATHS.find((path) => existsSync(path)) ?? 'flock';
  return new Promise((resolve, reject) => {
    // The descriptor becomes the helper's fd 3; the lock it takes stays with the open file.
    const helper = spawn(program, ['--exclusive', '--nonblock', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd], timeout: 10_000 });
    let stderr = '';
    helper.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-1000)));
    helper.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') resolve('unavailable');
      else reject(new Error(`cannot lock the home: ${error.message}`));
    });
    helper.once('close', (status, signal) => {
      if (status === 0) resolve(true);
      else if (status === 1) resolve(false);
      // After an 'error' (not started), this settles nothing.
      else if (status !== null || signal !== null) reject(new Error(`cannot lock the home: flock exited with ${status ?? signal}: ${stderr.trim()}`));
    });
  });
}

function sameFile(fd: number, path: string): boolean {
  try {
    const open = fstatSync(fd);
    const named = statSync(path);
    return open.ino === named.ino && open.dev === named.dev;
  } catch {
    return false;
  }
}

async function pidIn(path: string): Promise<number | undefined> {
  // The holder writes its pid right after locking: allow it a moment.
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0) return pid;
    } catch {
      return undefined;
    }
    await sleep(25);
  }
  return undefined;
}

/** The pid in the file if that process is alive and started before the file was written (else it is a reused pid). */
function livePidIn(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    const started = processStartMs(pid);
    if (started === undefined) return undefined;
    return started <= statSync(path).mtimeMs + 1_000 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** When a process started (ms since the epoch), from /proc/<pid>/stat field 22 and the boot time. */
function processStartMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // USER_HZ is 100 on every Linux architecture Node runs on.
    return Number.isFinite(startTicks) && Number.isFinite(bootSeconds) ? bootSeconds * 1000 + startTicks * 10 : undefined;
  } catch {
    return undefined;
  }
}
