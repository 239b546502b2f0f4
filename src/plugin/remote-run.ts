import { spawnSync } from 'node:child_process';
import { mkdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { AppMeshError } from '../client/errors.js';
import { remoteShell, shellQuote, transientPath, type Workspace } from './remote-workspace.js';
import { ConfigError } from './remote-config.js';

export interface RunOptions {
  /** Seconds the command may run; it is killed after. */
  timeoutSeconds: number;
  /** Relative to the workspace, or absolute on the node. */
  workingDir?: string;
  /** Files to bring back once the command ended, relative to the project root. */
  pulls?: string[];
  /** Where output goes (standard output by default). */
  write?: (text: string) => void;
}

/** What a run ended with: the remote exit code, or `interrupted` (Ctrl-C). */
export type RunEnd = { exitCode: number } | { interrupted: true };

export const INTERRUPTED_EXIT = 130;

/** Checks a `--pull` path before anything runs: inside the project, no way out of it; a trailing `/` names a folder. */
export function checkPullPath(path: string): string {
  const folder = /[\\/]$/.test(path);
  const normal = posix.normalize(path.replace(/\\/g, '/')).replace(/^\.\//, '').replace(/\/+$/, '');
  if (!normal || normal === '.' || normal.startsWith('/') || normal.split('/').includes('..')) {
    throw new ConfigError(`--pull takes a path inside the project, relative to its root: ${path}`);
  }
  return folder ? `${normal}/` : normal;
}

/**
 * Runs a command in the workspace as an App Mesh run, its output written as it comes. Ctrl-C
 * (or SIGTERM) removes the run, which kills its whole process tree on the node.
 */
export async function runInWorkspace(workspace: Workspace, command: string, options: RunOptions): Promise<RunEnd> {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  const dir = !options.workingDir ? workspace.remoteRoot : options.workingDir.startsWith('/') ? options.workingDir : posix.join(workspace.remoteRoot, options.workingDir);
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  let exitCode: number | undefined;
  try {
    // The daemon runs a command whose folder is missing elsewhere: a build must not run in the wrong place.
    const guarded = `cd ${shellQuote(dir)} 2>/dev/null || { echo "appmesh-remote: ${dir.replace(/["$`\\]/g, '')} does not exist on the node (sync first)" >&2; exit 127; }\n${command}`;
    exitCode = await workspace.client.runs.run({ command: guarded, shell: true, working_dir: dir }, write, {
      lifecycleSeconds: options.timeoutSeconds,
      timeoutSeconds: options.timeoutSeconds,
      signal: stop.signal,
    });
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  if (stop.signal.aborted || exitCode === undefined) return { interrupted: true };
  return { exitCode };
}

/** Copies files of the workspace into the project, byte for byte (mode kept); answers the failures. */
export async function pullFiles(workspace: Workspace, paths: readonly string[], log: (line: string) => void): Promise<string[]> {
  const failures: string[] = [];
  for (const path of paths) {
    try {
      log(path.endsWith('/') ? await pullFolder(workspace, path.slice(0, -1)) : await pullFile(workspace, path));
    } catch (error) {
      failures.push(path);
      const hint = error instanceof AppMeshError && error.kind === 'not-found' && !path.endsWith('/') ? ' (for a folder, end the path with /)' : '';
      log(`[pull] ${path} failed: ${(error as Error).message}${hint}`);
    }
  }
  return failures;
}

async function pullFile(workspace: Workspace, path: string): Promise<string> {
  const local = join(workspace.projectRoot, path);
  const temp = `${local}.appmesh-pull-${process.pid}`;
  try {
    await mkdir(dirname(local), { recursive: true });
    const info = await workspace.client.files.download(posix.join(workspace.remoteRoot, path), temp);
    await rename(temp, local);
    return `[pull] ${path} (${info.size ?? '?'} bytes)`;
  } finally {
    await rm(temp, { force: true });
  }
}

/** A folder comes as one archive made on the node, unpacked here by `tar`. */
async function pullFolder(workspace: Workspace, path: string): Promise<string> {
  const remote = transientPath(workspace, 'pull', '.tar.gz');
  const local = join(tmpdir(), `appmesh-pull-${process.pid}-${Date.now()}.tar.gz`);
  try {
    await remoteShell(workspace, `cd ${shellQuote(workspace.remoteRoot)} && tar -czf ${shellQuote(remote)} -- ${shellQuote(path)}`, `Packing ${path}`, 600);
    const info = await workspace.client.files.download(remote, local);
    const unpack = spawnSync('tar', ['-xzf', local, '-C', workspace.projectRoot], { encoding: 'utf8' });
    if (unpack.status !== 0) throw new Error(`tar could not unpack it here: ${unpack.stderr || unpack.error?.message}`);
    return `[pull] ${path}/ (${info.size ?? '?'} bytes compressed)`;
  } finally {
    await rm(local, { force: true });
    await remoteShell(workspace, `rm -f ${shellQuote(remote)}`, 'Removing the archive', 30).catch(() => undefined);
  }
}

/** Uploads a local script to the node, runs it in the workspace with its arguments, removes it. */
export async function runScript(workspace: Workspace, localFile: string, args: readonly string[], options: RunOptions): Promise<RunEnd> {
  const remote = transientPath(workspace, 'script');
  await workspace.client.files.uploadFile(localFile, remote, { mode: 0o700 });
  const command = [
    `S=${shellQuote(remote)}`,
    `trap 'rm -f "$S"' EXIT`,
    `mkdir -p ${shellQuote(workspace.remoteRoot)} && cd ${shellQuote(workspace.remoteRoot)} || exit 1`,
    `"$S" ${args.map(shellQuote).join(' ')}`,
  ].join('\n');
  try {
    return await runInWorkspace(workspace, command, { ...options, workingDir: workspace.remoteHome });
  } finally {
    // A killed run leaves its script behind: removed here in any case.
    await remoteShell(workspace, `rm -f ${shellQuote(remote)}`, 'Removing the script', 30).catch(() => undefined);
  }
}
