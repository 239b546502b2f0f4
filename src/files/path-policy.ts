import { lstat, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { forbidden, type ServiceError } from '../service/errors.js';

/** Folders no transfer may touch, whatever the jail says (the original agent refused them too). */
export const SYSTEM_DIRS: readonly string[] = ['/etc', '/var', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/proc', '/sys', '/boot', '/dev'];

const MAX_SYMLINKS = 40;

export interface CheckedPath {
  /** The path as asked for, normalised (no `//`, no `.`, no trailing `/`). */
  requested: string;
  /** Every symbolic link resolved; for a missing target, its nearest existing ancestor resolved. */
  canonical: string;
}

export const invalidPath = (why: string): ServiceError => forbidden(`Invalid file path: ${why}`);

/**
 * `X-File-Path` may be percent-encoded (the JS SDK uses encodeURIComponent, Python `quote`) or
 * sent raw; a value that does not decode is taken as it is. The original also turned `+` into a
 * space, which corrupts every name holding a `+`; we do not.
 */
export function decodeFilePath(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Decodes and checks a requested path: absolute, no NUL, no `..`, outside the system folders and,
 * when `baseDir` is set, inside it once every symlink is resolved. Throws 403 "Invalid file path".
 */
/** What confines transfers: the jail (`REST.FileAllowedBaseDir`, empty for none) and the daemon's own folder. */
export interface PathRules {
  baseDir: string;
  /** The daemon's state (keys, users, definitions): never transferred, whoever asks... */
  daemonHome?: string;
  /** ...except these folders inside it (the default working directory of applications). */
  openInHome?: readonly string[];
}

export async function checkFilePath(raw: string, rules: PathRules): Promise<CheckedPath> {
  const decoded = decodeFilePath(raw);
  if (decoded.includes('\0')) throw invalidPath('it contains a NUL character');
  if (!decoded.startsWith('/')) throw invalidPath('it must be absolute');
  if (decoded.split('/').includes('..')) throw invalidPath("'..' components are not allowed");
  if (decoded.length > 1 && decoded.endsWith('/')) throw invalidPath('it names a directory, not a file');
  const requested = posix.normalize(decoded);
  if (await inSystemDir(requested)) throw invalidPath(`${requested} is inside a system folder`);
  const canonical = await canonicalPath(requested);
  await checkContained(canonical, rules);
  return { requested, canonical };
}

/**
 * The rules a resolved path must satisfy. Also run on the path the kernel reports for an opened
 * file, so a symlink swapped in between the check and the open is still caught.
 */
export async function checkContained(canonical: string, rules: PathRules): Promise<void> {
  if (await inSystemDir(canonical)) throw invalidPath(`it resolves into a system folder (${canonical})`);
  if (rules.daemonHome) {
    const home = await canonicalPath(posix.resolve(rules.daemonHome));
    const open = await Promise.all((rules.openInHome ?? []).map((dir) => canonicalPath(posix.resolve(dir))));
    // Reading its keys or user store would hand anyone with file-download the whole daemon.
    if (isInside(canonical, home) && !open.some((dir) => isInside(canonical, dir))) throw invalidPath("it is inside the daemon's own folder");
  }
  if (!rules.baseDir) return;
  const base = await canonicalPath(posix.resolve(rules.baseDir));
  if (!isInside(canonical, base)) throw invalidPath('it resolves outside the allowed base directory');
}

const isInside = (path: string, dir: string): boolean => dir === '/' || path === dir || path.startsWith(`${dir}/`);

let systemDirs: Promise<string[]> | undefined;

async function inSystemDir(path: string): Promise<boolean> {
  // Their canonical forms count too: /lib may be a link to /usr/lib, /var to /private/var.
  systemDirs ??= Promise.all(SYSTEM_DIRS.map((dir) => canonicalPath(dir).catch(() => dir))).then((canonical) => [...new Set([...SYSTEM_DIRS, ...canonical])]);
  const dirs = await systemDirs;
  return dirs.some((dir) => dir !== '/' && isInside(path, dir));
}

/**
 * `realpath` that also works for paths that do not exist yet: walks the components, follows each
 * symlink (dangling ones too), and appends the missing remainder as written.
 */
export async function canonicalPath(path: string): Promise<string> {
  const pending = path.split('/').filter((part) => part !== '' && part !== '.');
  let resolved = '/';
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      // `resolved` holds no symlinks, so its lexical parent is its real parent.
      resolved = posix.dirname(resolved);
      continue;
    }
    const next = posix.join(resolved, part);
    let info;
    try {
      info = await lstat(next);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw invalidPath(`${next} cannot be examined (${code})`);
      // Nothing below a missing entry can be a link: the rest is taken as written.
      return posix.resolve(next, ...pending);
    }
    if (!info.isSymbolicLink()) {
      resolved = next;
      continue;
    }
    if (++links > MAX_SYMLINKS) throw invalidPath('too many levels of symbolic links');
    const target = await readlink(next);
    if (target.startsWith('/')) resolved = '/';
    pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return resolved;
}
