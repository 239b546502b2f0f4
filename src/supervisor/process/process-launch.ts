import { spawn } from 'node:child_process';
import { makeCgroupHere } from '../../containment/cgroup-at-fork.js';
import { SPAWN_FAILED, SpawnFailed, SpawnerUnavailable, type ProcessExitStatus, type SpawnRequest, type SpawnedProcess, type Spawner } from '../../containment/spawner.js';

/**
 * Starts a planned launch: through the spawner process when there is one (the fork does not
 * pause the daemon), else in the daemon's own process. Throws SpawnFailed when nothing started.
 */
export async function launchProcess(request: SpawnRequest, spawner: Spawner | undefined): Promise<SpawnedProcess> {
  if (spawner) {
    try {
      return await spawner.start(request);
    } catch (error) {
      if (!(error instanceof SpawnerUnavailable)) throw error;
      // Reported once by the spawner: from now on the daemon forks by itself.
    }
  }
  if (request.cgroup) makeCgroupHere(request.cgroup);
  return launchInProcess(request);
}

/** The daemon forks and executes the launcher itself (no spawner, or it could not be used). */
export function launchInProcess(request: SpawnRequest): SpawnedProcess {
  const child = spawn(request.file, request.args, {
    cwd: request.cwd,
    env: request.env,
    // stderr joins stdout inside the launcher.
    stdio: [request.stdin, request.stdoutFd ?? 'ignore', 'ignore'],
    // setsid(): the child leads a new session and process group.
    detached: true,
    ...(request.uid !== undefined ? { uid: request.uid, gid: request.gid } : {}),
  });
  child.on('error', () => undefined);
  if (child.pid === undefined) throw new SpawnFailed(SPAWN_FAILED);
  const pid = child.pid;
  const exited = new Promise<ProcessExitStatus>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stdin = child.stdin;
  if (stdin) {
    // A process that never reads its stdin must not crash the daemon with EPIPE.
    stdin.on('error', () => undefined);
    if (request.input !== undefined) stdin.write(request.input);
    if (!request.keepStdinOpen) stdin.end();
  }
  let exitedYet = false;
  void exited.then(() => (exitedYet = true));
  return {
    pid,
    exited,
    get stdinOpen() {
      return Boolean(stdin?.writable) && !exitedYet;
    },
    async writeStdin(data, end) {
      if (!stdin || !stdin.writable) throw new Error('stdin is not open');
      await new Promise<void>((resolve, reject) => stdin.write(data, (error) => (error ? reject(error) : resolve())));
      if (end) stdin.end();
    },
  };
}
