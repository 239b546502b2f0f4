import type { Containment } from '../../containment/containment.js';
import { ProcessRun } from './process-run.js';

export interface CheckOptions {
  cwd: string;
  timeoutMs: number;
  env: Record<string, string>;
  user?: { name: string; uid: number; gid: number };
  /** The App Mesh user owning the app: the check runs in a cgroup under this user's parent. */
  owner?: string;
  containment?: Containment;
  /** The app's sandbox prefix: the check is confined like the app. */
  sandboxArgv?: string[];
}

/**
 * Runs a short check command (argv, no shell) through the same launcher as the app itself and
 * resolves its exit code. A check that outlives `timeoutMs` is killed (-9); whatever it leaves
 * behind is killed with it, so a check never leaves processes running.
 */
export async function runCheck(command: string, options: CheckOptions): Promise<number> {
  let run: ProcessRun;
  try {
    run = await ProcessRun.start({ command, shell: false, workingDir: options.cwd, env: options.env, user: options.user, owner: options.owner, sandboxArgv: options.sandboxArgv }, 0, options.containment);
  } catch {
    return -1;
  }
  const timer = setTimeout(() => void run.kill(), options.timeoutMs);
  try {
    return (await run.exited).code;
  } finally {
    clearTimeout(timer);
    await run.kill();
  }
}
