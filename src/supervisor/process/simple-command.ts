import { accessSync, closeSync, constants, existsSync, fstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';

/**
 * A shell command that is only a program and plain words starts without bash, as GNU make and
 * Ruby's `Process.spawn` do: `bash -c 'ls -l'` would only look `ls` up in PATH and execute it in
 * its own place, so starting it directly gives the same process, argv, output and exit code,
 * one exec fewer. The environment is made as bash would pass it on (PWD, SHLVL, `_`, OLDPWD).
 *
 * Whenever the result could differ, bash runs the command: any shell syntax, a builtin or
 * keyword, a program bash would not find (its own message and 127), a file that is not an ELF
 * binary or a `#!` script (bash would run it as a bash script), variables that change what bash
 * does at its start, another OS account (the launcher looks the program up with that account's
 * rights, and the root daemon does not probe paths for a user) and a sandbox (the program is
 * looked up inside it). So do env and printenv: bash passes the environment on in an order of
 * its own, the only difference left, and they print it.
 */

/** What a shell command needs to start without bash. */
export interface ShellCommandSpec {
  command: string;
  shell: boolean;
  workingDir: string;
  env: Record<string, string>;
  user?: unknown;
  sandboxArgv?: readonly string[];
}

export interface DirectStart {
  /** The command's words: argv[0] as typed, looked up in PATH by the launcher as bash did here. */
  argv: string[];
  /** The environment bash would have given the program. */
  env: Record<string, string>;
}

/**
 * Words of characters no shell treats specially (no quotes, expansions, globs, braces, tildes,
 * redirections, operators, comments, job specs), separated by spaces or tabs. The first word
 * also has no `=` (an assignment) and no `%`.
 */
const FIRST_WORD = /^[A-Za-z0-9_.+/-]+$/;
const PLAIN_COMMAND = /^[ \t]*[A-Za-z0-9_.+/-]+(?:[ \t]+[A-Za-z0-9_.+/,:@%=-]+)*[ \t]*$/;

/**
 * bash 5's builtins and reserved words: bash runs these itself. Only `true` and `false` without
 * arguments behave as their programs do (`/usr/bin/true --help` prints help, the builtin does
 * not); echo, printf, test, kill, pwd and the others differ from their programs.
 */
const SHELL_OWN_WORDS = new Set([
  '.', ':', '[', 'alias', 'bg', 'bind', 'break', 'builtin', 'caller', 'cd', 'command', 'compgen', 'complete', 'compopt', 'continue',
  'declare', 'dirs', 'disown', 'echo', 'enable', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg', 'getopts', 'hash', 'help',
  'history', 'jobs', 'kill', 'let', 'local', 'logout', 'mapfile', 'popd', 'printf', 'pushd', 'pwd', 'read', 'readarray', 'readonly',
  'return', 'set', 'shift', 'shopt', 'source', 'suspend', 'test', 'times', 'trap', 'true', 'type', 'typeset', 'ulimit', 'umask',
  'unalias', 'unset', 'wait',
  'if', 'then', 'else', 'elif', 'fi', 'case', 'esac', 'for', 'select', 'while', 'until', 'do', 'done', 'in', 'function', 'time',
  'coproc', '!', '{', '}', '[[', ']]',
]);
const SAME_AS_PROGRAM = new Set(['true', 'false']);
/**
 * Programs that print their environment: bash passes it on in an order of its own, the
 * direct start in the daemon's (the same variables and values, another order of lines).
 */
const PRINT_ENVIRONMENT = new Set(['env', 'printenv']);

/**
 * Variables that make bash do something before the command (a startup file, options such as
 * xtrace, imported functions, POSIX mode, a PATH search that ignores files, word splitting).
 */
const BASH_START_VARIABLES = new Set(['ENV', 'SHELLOPTS', 'POSIXLY_CORRECT', 'IFS', 'PS4', 'EXECIGNORE', 'GLOBIGNORE']);

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** bash warns at its start when LC_ALL names a locale it cannot set: C and POSIX always exist, C.UTF-8 where installed. */
const ALWAYS_SET_LOCALES = new Set(['', 'C', 'POSIX', ...(existsSync('/usr/lib/locale/C.utf8') ? ['C.UTF-8', 'C.utf8'] : [])]);

/** Decided once per start: the command's words and lookup are looked at by two steps of the start. */
const decided = new WeakMap<object, DirectStart | null>();

/** How to start `spec` without bash, or undefined when bash must run it. */
export function directStartOf(spec: ShellCommandSpec): DirectStart | undefined {
  let found = decided.get(spec);
  if (found === undefined) {
    found = decide(spec) ?? null;
    decided.set(spec, found);
  }
  return found ?? undefined;
}

function decide(spec: ShellCommandSpec): DirectStart | undefined {
  if (!spec.shell || spec.user !== undefined || (spec.sandboxArgv?.length ?? 0) > 0) return undefined;
  if (!PLAIN_COMMAND.test(spec.command) || !isAbsolute(spec.workingDir)) return undefined;
  const argv = spec.command.trim().split(/[ \t]+/);
  const name = argv[0];
  if (!FIRST_WORD.test(name)) return undefined;
  if (SHELL_OWN_WORDS.has(name) && !(SAME_AS_PROGRAM.has(name) && argv.length === 1)) return undefined;
  if (PRINT_ENVIRONMENT.has(basename(name))) return undefined;
  const env = spec.env;
  for (const variable in env) {
    // A name that is no shell identifier is passed on by bash, not by the /bin/sh launcher.
    if (variable.startsWith('BASH') || BASH_START_VARIABLES.has(variable) || !IDENTIFIER.test(variable)) return undefined;
  }
  if (env.LC_ALL !== undefined && !ALWAYS_SET_LOCALES.has(env.LC_ALL)) return undefined;
  const level = shellLevel(env.SHLVL);
  if (level === undefined) return undefined;
  const program = name.includes('/') ? (isRunnableFile(resolve(spec.workingDir, name)) ? name : undefined) : findAsBash(env.PATH, name);
  if (program === undefined) return undefined;
  const pwd = workingDirVariable(env.PWD, spec.workingDir);
  if (pwd === undefined) return undefined;
  const direct: Record<string, string> = { ...env, PWD: pwd, SHLVL: level, _: program };
  // bash passes OLDPWD on only while it names a folder (seen from the working folder).
  if (direct.OLDPWD !== undefined && !(direct.OLDPWD !== '' && isFolder(resolve(spec.workingDir, direct.OLDPWD)))) delete direct.OLDPWD;
  return { argv, env: direct };
}

/**
 * The SHLVL the program sees: bash adds one at its start and takes it back when it executes the
 * last command in its place. An unset, non-numeric or negative level is 0; one that would pass
 * 999 makes bash warn: left to bash, as any form it parses less plainly (signs, spaces).
 */
function shellLevel(value: string | undefined): string | undefined {
  // Not a number (letters only) or a negative one: bash counts from 0.
  if (value === undefined || /^[A-Za-z]*$/.test(value) || /^-[0-9]{1,9}$/.test(value)) return '0';
  if (!/^[0-9]{1,3}$/.test(value) || Number(value) >= 999) return undefined;
  return String(Number(value));
}

/**
 * PWD as bash passes it on: the inherited value while it is an absolute path to the working
 * folder, else the folder's physical path (bash's getcwd()).
 */
function workingDirVariable(inherited: string | undefined, workingDir: string): string | undefined {
  try {
    if (inherited === workingDir) return inherited;
    const here = statSync(workingDir);
    if (inherited?.startsWith('/')) {
      const there = statSync(inherited, { throwIfNoEntry: false });
      if (there && there.dev === here.dev && there.ino === here.ino) return inherited;
    }
    return realpathSync.native(workingDir);
  } catch {
    // A working folder that cannot be looked at: bash reports what the start makes of it.
    return undefined;
  }
}

/**
 * The file bash would execute for `name`: the first PATH folder's entry that exists, is not a
 * folder and is executable. Only absolute folders are looked in (an empty or relative one
 * depends on the working folder), and an entry bash would pick that is not a regular file
 * leaves the command to bash.
 */
function findAsBash(pathList: string | undefined, name: string): string | undefined {
  if (!pathList) return undefined;
  for (const folder of pathList.split(':')) {
    if (!folder.startsWith('/')) return undefined;
    const candidate = folder.endsWith('/') ? folder + name : `${folder}/${name}`;
    const stats = statSync(candidate, { throwIfNoEntry: false });
    if (!stats || stats.isDirectory() || !isExecutable(candidate)) continue;
    return stats.isFile() && isRunnable(candidate, stats) ? candidate : undefined;
  }
  return undefined;
}

function isRunnableFile(file: string): boolean {
  const stats = statSync(file, { throwIfNoEntry: false });
  return stats !== undefined && stats.isFile() && isExecutable(file) && isRunnable(file, stats);
}


/** As bash checks it: eaccess(X_OK), which also says no for a file on a noexec mount. */
function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Files known to start the same way with or without bash: the version of each that was read, and a script's interpreter. */
const formats = new Map<string, { version: string; interpreter?: string }>();
const FORMATS_MAX = 512;
/** The kernel reads this much of a file for its `#!` line. */
const HEAD_BYTES = 256;

/**
 * An ELF binary, or a `#!` script whose interpreter is there: the kernel starts it the same for
 * bash and for the launcher. Any other file bash runs as a bash script (the launcher would use
 * /bin/sh), and a missing interpreter gets bash's own message. Read once per version of the file;
 * opened without blocking, in case it is no longer a regular file.
 */
function isRunnable(file: string, seen: Stats): boolean {
  let known = formats.get(file);
  if (known?.version !== versionOf(seen)) {
    known = readFormat(file);
    if (!known) return false;
    if (formats.size >= FORMATS_MAX) formats.clear();
    formats.set(file, known);
  }
  return known.interpreter === undefined || isRegularExecutable(known.interpreter);
}

function readFormat(file: string): { version: string; interpreter?: string } | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return undefined;
    const head = Buffer.alloc(HEAD_BYTES);
    const length = readSync(fd, head, 0, HEAD_BYTES, 0);
    if (length >= 4 && head[0] === 0x7f && head.toString('latin1', 1, 4) === 'ELF') return { version: versionOf(stats) };
    if (length < 2 || head[0] !== 0x23 || head[1] !== 0x21) return undefined;
    const line = head.toString('latin1', 2, length);
    const end = line.indexOf('\n');
    if (end < 0) return undefined;
    const interpreter = /^[ \t]*(\S+)/.exec(line.slice(0, end))?.[1];
    return interpreter?.startsWith('/') ? { version: versionOf(stats), interpreter } : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function isRegularExecutable(file: string): boolean {
  return (statSync(file, { throwIfNoEntry: false })?.isFile() ?? false) && isExecutable(file);
}

const versionOf = (stats: Stats) => `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;

function isFolder(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
