import { spawn } from 'node:child_process';
import { splitCommandLine } from './command-line.js';
import { signalGroup } from './process-group.js';

/**
 * Runs a short check command (argv, no shell) and resolves its exit code; a check that outlives
 * `timeoutMs` is killed with its whole group and counts as failed (-1).
 */
export function runCheck(command: string, options: { cwd: string; timeoutMs: number; user?: { uid: number; gid: number } }): Promise<number> {
  return new Promise((resolve) => {
    let argv: string[];
    try {
      argv = splitCommandLine(command);
    } catch {
      resolve(-1);
      return;
    }
    if (argv.length === 0) {
      resolve(-1);
      return;
    }
    const child = spawn(argv[0], argv.slice(1), { cwd: options.cwd, stdio: 'ignore', detached: true, ...(options.user ? { uid: options.user.uid, gid: options.user.gid } : {}) });
    const timer = setTimeout(() => child.pid && signalGroup(child.pid, 'SIGKILL'), options.timeoutMs);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(-1);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (child.pid) signalGroup(child.pid, 'SIGKILL');
      resolve(code ?? -1);
    });
  });
}
