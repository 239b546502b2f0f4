import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';

/**
 * The `isolated` sandbox: bubblewrap, run unprivileged after the launcher dropped to the user's
 * uid (user namespaces, no setuid helper). The kernel still checks every write against the
 * user's own uid; the sandbox only takes away what the uid could otherwise reach: other
 * processes, the shared /tmp, the network, and writing anywhere but its folders.
 */

export const DEFAULT_BWRAP_PATH = '/usr/bin/bwrap';

export interface SandboxOptions {
  /** The bubblewrap binary (default /usr/bin/bwrap). */
  bwrapPath?: string;
  /** Absolute working directory, where the command starts. */
  workingDir: string;
  /** Whether the working directory is writable (default true); otherwise a read-only view of it. */
  workingDirWritable?: boolean;
  /** Other absolute folders the run may write in (its owner's home); each must exist. */
  writableDirs?: readonly string[];
  /** Absolute folders replaced by an empty tmpfs (the daemon's own home). */
  hiddenDirs?: readonly string[];
  /** Keep the host's network; otherwise only a private loopback. */
  network: boolean;
  /** Refuse user namespaces inside (default true; needs bubblewrap 0.8). */
  blockNestedUserns?: boolean;
}

/** Mount points the sandbox makes private: never bound back from the host. */
const PRIVATE_MOUNTS = ['/tmp', '/dev', '/proc'];
/** With the network off, /run is private too: its unix sockets (system bus, container daemons) are a network. */
const NETWORK_MOUNTS = ['/run'];

/** The argv prefix that runs a command inside the sandbox: `[bwrap, ...flags, '--']`. */
export function sandboxArgv(options: SandboxOptions): string[] {
  const workingDir = absolute(options.workingDir, 'working directory');
  const privateMounts = options.network ? PRIVATE_MOUNTS : [...PRIVATE_MOUNTS, ...NETWORK_MOUNTS];
  const argv = [
    options.bwrapPath ?? DEFAULT_BWRAP_PATH,
    '--ro-bind', '/', '/',
    '--dev', '/dev',
    // Its own PID namespace and a /proc of it: no view of (or signal to) other processes.
    '--unshare-pid', '--proc', '/proc',
    '--tmpfs', '/tmp',
    '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try',
  ];
  // No user namespaces inside: most of the kernel reachable only through them stays out of reach.
  if (options.blockNestedUserns !== false) argv.push('--unshare-user', '--disable-userns');
  if (!options.network) {
    argv.push('--unshare-net');
    for (const mount of NETWORK_MOUNTS) argv.push('--tmpfs', mount);
  }
  const hidden = unique(options.hiddenDirs ?? []);
  for (const dir of hidden) {
    // Under a private mount or another hidden folder it is hidden already; a mount point there would only show its name.
    const covered = [...privateMounts, ...hidden.filter((other) => other !== dir)].some((mount) => within(dir, mount));
    if (!covered && dir !== '/') argv.push('--tmpfs', dir);
  }
  const writable = unique([...(options.workingDirWritable === false ? [] : [workingDir]), ...(options.writableDirs ?? [])]);
  // Binding `/` or a private mount point back would undo the sandbox.
  const bindable = (dir: string) => dir !== '/' && !privateMounts.includes(dir);
  for (const dir of writable.filter(bindable)) argv.push('--bind', dir, dir);
  // A read-only working directory under a private mount or a hidden folder must still exist inside.
  if (!writable.includes(workingDir) && bindable(workingDir)) argv.push('--ro-bind', workingDir, workingDir);
  argv.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--chdir', workingDir, '--');
  return argv;
}

export interface SandboxSupport {
  available: boolean;
  /** Why `isolated` cannot be honoured here. */
  reason?: string;
  /** e.g. "bubblewrap 0.8.0". */
  version?: string;
  /** Whether this bubblewrap can refuse user namespaces inside (0.8 and later). */
  blocksNestedUserns?: boolean;
}

const PROBE_TIMEOUT_MS = 5000;
/** The uid/gid a root daemon probes with: runs use unprivileged user namespaces, root would not. */
const UNPRIVILEGED_ID = 65_534;
const supportByPath = new Map<string, SandboxSupport>();

/**
 * Whether bubblewrap works here, found once per binary by running it for real with the sandbox's
 * own flags (it may be missing, or the kernel may refuse unprivileged user namespaces).
 */
export function sandboxSupport(bwrapPath = DEFAULT_BWRAP_PATH): SandboxSupport {
  let support = supportByPath.get(bwrapPath);
  if (!support) {
    support = probe(bwrapPath);
    supportByPath.set(bwrapPath, support);
  }
  return support;
}

function probe(bwrapPath: string): SandboxSupport {
  if (!isAbsolute(bwrapPath) || !existsSync(bwrapPath)) {
    return { available: false, reason: `bubblewrap is not installed (${bwrapPath} not found; Debian/Ubuntu package: bubblewrap)` };
  }
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };
  const versionRun = spawnSync(bwrapPath, ['--version'], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env });
  const version = versionRun.status === 0 ? versionRun.stdout.trim() || undefined : undefined;
  const asRoot = process.getuid?.() === 0;
  const attempt = (blockNestedUserns: boolean) => {
    const [file, ...args] = sandboxArgv({ bwrapPath, workingDir: '/', network: false, blockNestedUserns });
    return spawnSync(file, [...args, 'true'], {
      encoding: 'utf8',
      timeout: PROBE_TIMEOUT_MS,
      env,
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(asRoot ? { uid: UNPRIVILEGED_ID, gid: UNPRIVILEGED_ID } : {}),
    });
  };
  if (attempt(true).status === 0) return { available: true, version, blocksNestedUserns: true };
  // An older bubblewrap without --disable-userns still isolates; it says so in the report.
  const run = attempt(false);
  if (run.status === 0) return { available: true, version, blocksNestedUserns: false };
  const detail = (run.error?.message ?? run.stderr ?? '').trim().split('\n')[0] || `exit status ${run.status ?? run.signal}`;
  const namespaces = /namespace|permission|not permitted/i.test(detail);
  const reason = namespaces
    ? `bubblewrap cannot create its namespaces as an unprivileged user (unprivileged user namespaces are off?): ${detail}`
    : `bubblewrap does not work here: ${detail}`;
  return { available: false, reason, version };
}

function absolute(path: string, what: string): string {
  if (!isAbsolute(path) || path.includes('\0')) throw new Error(`sandbox ${what} must be an absolute path`);
  const clean = normalize(path);
  return clean.length > 1 ? clean.replace(/\/+$/, '') : clean;
}

function unique(dirs: readonly string[]): string[] {
  return [...new Set(dirs.map((dir) => absolute(dir, 'folder')))];
}

function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}
