import { accessSync, constants } from 'node:fs';
import { findNativeLauncher } from './native-launcher.js';

/**
 * The launcher every process starts through, started by the daemon (root, or the daemon's own
 * account) and replaced by the command through `exec`, so the pid and exit status are the
 * command's. Where it was built, it is the daemon's own small program, appmesh-launch
 * (native/appmesh-launch.c), doing every step in one exec; else `/bin/sh` running a fixed script:
 *   1. stderr joins stdout (one pipe: both keep their relative order);
 *   2. its pid goes into each of the run's cgroup.procs files, before any user code exists;
 *   3. `setpriv` drops to the user's uid/gid with no supplementary groups, then executes the
 *      rest: an optional `env` that restores variables held back from the privileged part, the
 *      sandbox prefix, and the command.
 * Paths and ids travel as arguments, never inside the script.
 *
 * The spawner process forks it; the fork server (native/fork-server.c) runs its steps in the
 * forked child instead of executing it. The spawner could instead move itself into the run's cgroup
 * around the fork and drop privileges through spawn's uid/gid, saving the launcher's exec. It
 * does not: while inside, the root spawner would count against the run's and its owner's
 * limits, so a user at its memory cap could get the spawner chosen by the kernel's OOM killer
 * (ending every user's runs) and a user at its process cap would fail the fork. Here the first
 * process of the run is the one that enters, so only the run pays for its limits.
 */
const LAUNCH_SCRIPT = [
  'exec 2>&1',
  'n=$1; shift',
  'while [ "$n" -gt 0 ]; do echo $$ >"$1" || exit 125; shift; n=$((n - 1)); done',
  'exec "$@"',
].join('\n');

export const SHELL = '/bin/sh';

/**
 * The launcher's steps 1 and 2 as a prefix of a shell command, on the command's first line, so
 * bash's messages keep the command's own line numbers. The cgroup.procs files are bash's
 * positional parameters, all consumed here: the command starts with none, as `bash -c` gives it.
 */
const BASH_LAUNCH_PREFIX = 'exec 2>&1; while [ $# -gt 0 ]; do echo $$ >"$1" || exit 125; shift; done; ';

export interface LauncherTools {
  /** appmesh-launch: cgroup entry, privilege drop and held-back variables in one program. */
  native?: string;
  /** util-linux setpriv: the privilege drop after the cgroup placement. */
  setpriv?: string;
  /** coreutils env: gives the command the variables the privileged part must not see. */
  env?: string;
}

let cachedTools: LauncherTools | undefined;

/** Finds the tools once, in fixed system folders only (never through a user's PATH). */
export function launcherTools(): LauncherTools {
  cachedTools ??= { native: findNativeLauncher(), setpriv: findExecutable('setpriv'), env: findExecutable('env') };
  return cachedTools;
}

function findExecutable(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return `${dir}/${name}`;
    } catch {
      // Next folder.
    }
  }
  return undefined;
}

export interface LaunchInput {
  /** The command's argv (argv[0] is looked up in the command's PATH after the privilege drop). */
  argv: string[];
  env: Record<string, string>;
  /** Switch to this uid/gid; absent: run as the daemon's own account. */
  user?: { uid: number; gid: number };
  /** cgroup.procs files to enter before the command runs. */
  cgroupProcsFiles: readonly string[];
  sandboxArgv?: readonly string[];
  /**
   * A shell command (`argv` is then bash -c and the command) and where bash is: a run as the
   * daemon's own account outside a sandbox is launched by bash itself, one exec instead of two.
   */
  shell?: { bash: string; command: string };
}

export interface LaunchPlan {
  file: string;
  args: string[];
  env: Record<string, string>;
  /** Spawn options for the fallback without setpriv: the launcher itself starts as the user. */
  uid?: number;
  gid?: number;
  /** False when the process could not enter its cgroup before exec (the daemon moves it in after spawn). */
  placedBeforeExec: boolean;
}

/** What to spawn so that `input.argv` runs contained and as its user. */
export function planLaunch(input: LaunchInput, tools: LauncherTools = launcherTools()): LaunchPlan {
  const script = (files: readonly string[], rest: readonly string[]) => ['-c', LAUNCH_SCRIPT, 'appmesh-launch', String(files.length), ...files, ...rest];
  const { safe, held } = holdBackPrivilegedEnv(input.env);
  const restore = Object.keys(held).length && tools.env ? [tools.env, '--', ...Object.entries(held).map(([name, value]) => `${name}=${value}`)] : [];
  // The sandbox's own program runs outside the sandbox: it must not load the user's libraries,
  // so the held-back variables come back inside it, for the command only.
  const sandboxed = input.sandboxArgv?.length ? [...input.sandboxArgv, ...restore, ...input.argv] : undefined;
  const tail = sandboxed ?? input.argv;
  const env = sandboxed ? safe : input.env;
  if (!input.user && !sandboxed && input.shell) {
    // Nothing runs between the cgroup placement and the command that the command could not do
    // itself: same account, same environment, same process.
    return { file: input.shell.bash, args: ['-c', BASH_LAUNCH_PREFIX + input.shell.command, 'bash', ...input.cgroupProcsFiles], env, placedBeforeExec: true };
  }
  if (tools.native) {
    // The held-back variables come back after the drop, from the launcher itself (inside the
    // sandbox, from `env`: the sandbox's program must not see them either).
    const late = sandboxed ? [] : Object.entries(held).map(([name, value]) => `${name}=${value}`);
    const ids = input.user ? [String(input.user.uid), String(input.user.gid)] : ['-', '-'];
    const files = input.cgroupProcsFiles;
    return { file: tools.native, args: [String(files.length), ...files, ...ids, String(late.length), ...late, ...tail], env: safe, placedBeforeExec: true };
  }
  if (!input.user) {
    return { file: SHELL, args: script(input.cgroupProcsFiles, tail), env, placedBeforeExec: true };
  }
  if (!tools.setpriv) {
    // The shell starts as the user: it cannot write cgroup.procs, the daemon does it after spawn.
    return { file: SHELL, args: script([], tail), env, uid: input.user.uid, gid: input.user.gid, placedBeforeExec: input.cgroupProcsFiles.length === 0 };
  }
  const drop = [tools.setpriv, `--reuid=${input.user.uid}`, `--regid=${input.user.gid}`, '--clear-groups', '--'];
  return { file: SHELL, args: script(input.cgroupProcsFiles, [...drop, ...(sandboxed ?? [...restore, ...input.argv])]), env: safe, placedBeforeExec: true };
}

/**
 * Variables that change what the shell or the dynamic loader does (preloaded libraries, shell
 * functions, startup files, locale and charset modules from a path) must not reach the part of
 * the launcher that still runs as root; the command gets them back after the privilege drop.
 */
export function holdBackPrivilegedEnv(env: Record<string, string>): { safe: Record<string, string>; held: Record<string, string> } {
  const safe: Record<string, string> = {};
  const held: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (isPrivilegeSensitive(name, value)) held[name] = value;
    else safe[name] = value;
  }
  return { safe, held };
}

const SENSITIVE_PREFIXES = ['LD_', 'MALLOC_', 'GLIBC_', 'BASH_FUNC_'];
const SENSITIVE_NAMES = new Set([
  'BASH_ENV', 'ENV', 'SHELLOPTS', 'BASHOPTS', 'IFS', 'CDPATH', 'PS4', 'POSIXLY_CORRECT',
  'GCONV_PATH', 'GETCONF_DIR', 'HOSTALIASES', 'LOCALDOMAIN', 'LOCPATH', 'NIS_PATH', 'NLSPATH',
  'RESOLV_HOST_CONF', 'RES_OPTIONS', 'TZDIR',
]);

function isPrivilegeSensitive(name: string, value: string): boolean {
  if (SENSITIVE_NAMES.has(name) || SENSITIVE_PREFIXES.some((prefix) => name.startsWith(prefix))) return true;
  // A locale given as a path loads files from that path.
  return (name === 'LANG' || name === 'LANGUAGE' || name.startsWith('LC_')) && value.includes('/');
}
