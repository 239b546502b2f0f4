/**
 * The file I/O helper: a small program the daemon starts for one file operation, holding the
 * caller's OS identity (uid/gid, no supplementary groups), so the kernel decides what the caller
 * may read, write or remove. The root daemon never opens a user-controlled path itself.
 *
 * Protocol: the request is one JSON argument; the answer is a JSON header line on stdout, followed
 * by the file's bytes for `read`. An upload streams its content on stdin and is published only
 * when `commit` arrives on fd 3 after the content; anything else (the daemon gone, an abort)
 * removes the temporary file. Failures are a header `{ok: false, code}` (an errno code, or one of
 * the codes below) and a non-zero exit.
 *
 * Self-contained on purpose (node: modules only): it is run from its own source text, as one file.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync, constants, existsSync, fchmodSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync,
  readdirSync, readFileSync, readlinkSync, readSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';

export type HelperRequest =
  /** Bytes `[offset, offset + length)` of a regular file (the whole file without them). */
  | { op: 'read'; path: string; offset?: number; length?: number }
  /** A new file (or a replaced one with `overwrite`) written from stdin, published on commit. */
  | { op: 'write'; path: string; overwrite: boolean; mode?: number }
  | { op: 'list'; path: string; max: number }
  | { op: 'stat'; path: string }
  /**
   * A private folder: `<home>/workspaces/<prefix>XXXXXX` when that folder is ours (made first when
   * `ownFolder`), else `<tmp>/appmesh-ws-<prefix>XXXXXX`.
   */
  | { op: 'make-workspace'; home: string; ownFolder: boolean; tmp: string; prefix: string }
  /** Recursive removal that never follows a link nor leaves the file system it starts on. */
  | { op: 'remove'; path: string }
  /** Who the helper runs as (a check of the credential switch). */
  | { op: 'id' };

export interface HelperEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
  modified: number;
}

/** What a header may carry; which fields are set depends on the operation. */
export interface HelperHeader {
  ok: boolean;
  /** errno code, or NOT_REGULAR / NOT_DIRECTORY / NO_PARENT / PARENT_NOT_DIRECTORY / BAD_REQUEST. */
  code?: string;
  /** The stage that failed (`parent`, `target`, `create`, `copy`, `publish`...). */
  step?: string;
  message?: string;
  /** The path the kernel reports for the opened file or folder (Linux /proc), for the daemon's path rules. */
  opened?: string;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  entry?: HelperEntry;
  entries?: HelperEntry[];
  truncated?: boolean;
  path?: string;
  /** Entries a removal left (another file system, or refused by the kernel). */
  left?: number;
  groups?: string;
}

const CHUNK = 1024 * 1024;
const TEMP_NAME_CHARS = 100;
// Deeper trees are left in place rather than holding one descriptor per level without bound.
const MAX_DEPTH = 512;
const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

class HelperFailure extends Error {
  constructor(readonly code: string, readonly step: string) {
    super(`${step}: ${code}`);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Inherited descriptors may be non-blocking: wait briefly and retry rather than fail. */
function retrying<T>(io: () => T): T {
  for (;;) {
    try {
      return io();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 2);
    }
  }
}

function writeFully(fd: number, data: Buffer): void {
  for (let done = 0; done < data.length; ) done += retrying(() => writeSync(fd, data, done, data.length - done));
}

function send(header: HelperHeader): void {
  writeFully(1, Buffer.from(`${JSON.stringify(header)}\n`));
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'EIO';
}

/** Runs one step; an errno failure becomes a HelperFailure naming the step. */
function step<T>(name: string, io: () => T): T {
  try {
    return io();
  } catch (error) {
    if (error instanceof HelperFailure) throw error;
    throw new HelperFailure(codeOf(error), name);
  }
}

function openedPath(fd: number): string | undefined {
  if (!PROC_FD) return undefined;
  try {
    return readlinkSync(`${PROC_FD}/${fd}`);
  } catch {
    return undefined;
  }
}

function entryOf(name: string, info: Stats): HelperEntry {
  const type = info.isFile() ? 'file' : info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : 'other';
  return { name, type, size: info.size, mode: info.mode & 0o777, modified: Math.floor(info.mtimeMs / 1000) };
}

function read(path: string, offset: number | undefined, length: number | undefined): void {
  // O_NOFOLLOW: a link at the final name was swapped in; O_NONBLOCK: a FIFO must not hang the helper.
  const fd = step('open', () => openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK));
  const info = fstatSync(fd);
  if (!info.isFile()) throw new HelperFailure('NOT_REGULAR', 'open');
  const start = Math.min(Math.max(0, offset ?? 0), info.size);
  const end = length === undefined ? info.size : Math.min(info.size, start + Math.max(0, length));
  send({ ok: true, opened: openedPath(fd), size: info.size, mode: info.mode & 0o777, uid: info.uid, gid: info.gid });
  const buffer = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(1, end - start)));
  // Exactly the bytes announced, even if the file grows meanwhile.
  for (let position = start; position < end; ) {
    const count = readSync(fd, buffer, 0, Math.min(buffer.length, end - position), position);
    if (count === 0) break;
    writeFully(1, buffer.subarray(0, count));
    position += count;
  }
  closeSync(fd);
}

/** What fd 3 says once the content is complete: `commit`, or nothing (abort). */
function readControl(): string {
  const buffer = Buffer.alloc(64);
  let text = '';
  for (;;) {
    const count = retrying(() => readSync(3, buffer, 0, buffer.length, null));
    if (count === 0) return text.trim();
    text += buffer.subarray(0, count).toString('latin1');
    if (text.includes('\n') || text.length > 64) return text.trim();
  }
}

function write(path: string, overwrite: boolean, requestedMode: number | undefined): void {
  const dir = posix.dirname(path);
  const name = posix.basename(path);
  const parent = step('parent', () => statSync(dir));
  if (!parent.isDirectory()) throw new HelperFailure('PARENT_NOT_DIRECTORY', 'parent');
  let current: Stats | undefined;
  try {
    current = lstatSync(path);
  } catch (error) {
    if (codeOf(error) !== 'ENOENT') throw new HelperFailure(codeOf(error), 'target');
  }
  if (current && !overwrite) throw new HelperFailure('EEXIST', 'target');
  if (current && !current.isFile()) throw new HelperFailure('NOT_REGULAR', 'target');
  // A replaced file keeps its permissions unless new ones are given.
  const mode = requestedMode ?? (current ? current.mode & 0o777 : undefined);

  const temp = posix.join(dir, `.${name.slice(0, TEMP_NAME_CHARS)}.${randomBytes(6).toString('hex')}.part`);
  // O_EXCL never follows a link planted at the temporary name.
  const fd = step('create', () => openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
  let published = false;
  try {
    send({ ok: true, opened: openedPath(fd) });
    const buffer = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const count = step('receive', () => retrying(() => readSync(0, buffer, 0, buffer.length, null)));
      if (count === 0) break;
      step('copy', () => writeFully(fd, buffer.subarray(0, count)));
    }
    if (readControl() !== 'commit') throw new HelperFailure('ECANCELED', 'copy');
    step('copy', () => fsyncSync(fd));
    if (mode !== undefined) step('mode', () => fchmodSync(fd, mode));
    closeSync(fd);
    step('publish', () => publish(temp, path, overwrite));
    published = true;
    syncDirectory(dir);
    send({ ok: true });
  } finally {
    if (!published) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(temp);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * link() never replaces a file that appeared meanwhile (EEXIST); file systems without hard links
 * fall back to a check then rename, which leaves a narrow race.
 */
function publish(temp: string, target: string, overwrite: boolean): void {
  if (overwrite) return renameSync(temp, target);
  try {
    linkSync(temp, target);
  } catch (error) {
    const code = codeOf(error);
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK'].includes(code)) throw error;
    if (existsOrLink(target)) throw new HelperFailure('EEXIST', 'publish');
    return renameSync(temp, target);
  }
  unlinkSync(temp);
}

function existsOrLink(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function syncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on folders; the file itself is on disk.
  }
}

/** Opens a folder without following a final link; with /proc, entries are then reached through the descriptor. */
function openDirectory(path: string): number {
  return openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
}

function list(path: string, max: number): void {
  const fd = step('open', () => openDirectory(path));
  const base = PROC_FD ? `${PROC_FD}/${fd}` : path;
  const names = step('list', () => readdirSync(base)).sort();
  const entries: HelperEntry[] = [];
  for (const name of names.slice(0, max)) {
    try {
      entries.push(entryOf(name, lstatSync(`${base}/${name}`)));
    } catch {
      // Removed meanwhile.
    }
  }
  send({ ok: true, opened: openedPath(fd), entries, truncated: names.length > max });
  closeSync(fd);
}

function stat(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    // Not readable, or not something to open (a link, a socket): its metadata is enough.
  }
  const info = fd === undefined ? step('stat', () => lstatSync(path)) : fstatSync(fd);
  send({ ok: true, opened: fd === undefined ? undefined : openedPath(fd), entry: entryOf(posix.basename(path), info), uid: info.uid, gid: info.gid });
  if (fd !== undefined) closeSync(fd);
}

function makeWorkspace(home: string, ownFolder: boolean, tmp: string, prefix: string): void {
  const own = home ? posix.join(home, 'workspaces') : '';
  let parent: Stats | undefined;
  try {
    if (own && ownFolder) mkdirSync(own, { mode: 0o700 });
  } catch {
    // There already, or the home is not ours to write.
  }
  try {
    if (own) parent = lstatSync(own);
  } catch {
    // No such folder: the temporary folder is used.
  }
  const path = parent?.isDirectory() && parent.uid === process.getuid?.()
    ? step('create', () => mkdtempSync(posix.join(own, prefix)))
    : step('create', () => mkdtempSync(posix.join(tmp, `appmesh-ws-${prefix}`)));
  send({ ok: true, path });
}

/** Removes what `fd` holds; returns how many entries had to be left. */
function emptyDirectory(fd: number, device: number, depth: number): number {
  const base = `${PROC_FD}/${fd}`;
  let left = 0;
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return 1;
  }
  for (const name of names) {
    const path = `${base}/${name}`;
    let info: Stats;
    try {
      info = lstatSync(path);
    } catch {
      continue;
    }
    if (!info.isDirectory()) {
      left += attempt(() => unlinkSync(path));
      continue;
    }
    // Another file system mounted here is not ours to empty.
    if (info.dev !== device || depth >= MAX_DEPTH) {
      left++;
      continue;
    }
    let child: number;
    try {
      child = openDirectory(path);
    } catch {
      // Replaced by something else meanwhile: remove that entry itself, never what it points to.
      left += attempt(() => unlinkSync(path));
      continue;
    }
    const opened = fstatSync(child);
    if (opened.dev !== device) left++;
    else left += emptyDirectory(child, device, depth + 1);
    closeSync(child);
    left += attempt(() => rmdirSync(path));
  }
  return left;
}

const attempt = (io: () => void): number => {
  try {
    io();
    return 0;
  } catch (error) {
    return codeOf(error) === 'ENOENT' ? 0 : 1;
  }
};

function remove(path: string): void {
  let info: Stats;
  try {
    info = lstatSync(path);
  } catch (error) {
    if (codeOf(error) === 'ENOENT') return send({ ok: true, left: 0 });
    throw new HelperFailure(codeOf(error), 'remove');
  }
  if (!info.isDirectory()) {
    step('remove', () => unlinkSync(path));
    return send({ ok: true, left: 0 });
  }
  if (!PROC_FD) {
    // Without descriptors to walk by, the library's removal (it does not follow links either).
    step('remove', () => rmSync(path, { recursive: true, force: true }));
    return send({ ok: true, left: 0 });
  }
  let fd: number;
  try {
    fd = openDirectory(path);
  } catch (error) {
    // A link swapped in for the folder: the link goes, its target stays.
    if (codeOf(error) === 'ELOOP' || codeOf(error) === 'ENOTDIR') {
      step('remove', () => unlinkSync(path));
      return send({ ok: true, left: 0 });
    }
    throw new HelperFailure(codeOf(error), 'remove');
  }
  const left = emptyDirectory(fd, fstatSync(fd).dev, 0);
  closeSync(fd);
  send({ ok: true, left: left + attempt(() => rmdirSync(path)) });
}

function identity(): void {
  const status = readFileSync('/proc/self/status', 'utf8');
  send({ ok: true, uid: process.getuid?.(), gid: process.getgid?.(), groups: /^Groups:(.*)$/m.exec(status)?.[1].trim() ?? '' });
}

function run(request: HelperRequest): void {
  switch (request.op) {
    case 'read':
      return read(request.path, request.offset, request.length);
    case 'write':
      return write(request.path, request.overwrite, request.mode);
    case 'list':
      return list(request.path, request.max);
    case 'stat':
      return stat(request.path);
    case 'make-workspace':
      return makeWorkspace(request.home, request.ownFolder, request.tmp, request.prefix);
    case 'remove':
      return remove(request.path);
    case 'id':
      return identity();
  }
}

/** Set in the helper's environment only: importing this module elsewhere runs nothing. */
export const HELPER_MARK = 'APPMESH_IO_HELPER';

function main(): void {
  let request: HelperRequest;
  try {
    request = JSON.parse(process.argv[1] ?? '') as HelperRequest;
    if (typeof request !== 'object' || request === null || typeof request.op !== 'string') throw new Error('no op');
  } catch {
    send({ ok: false, code: 'BAD_REQUEST', step: 'request', message: 'the request is not valid JSON' });
    process.exit(2);
  }
  try {
    run(request);
  } catch (error) {
    const failure = error instanceof HelperFailure ? error : new HelperFailure(codeOf(error), 'io');
    try {
      send({ ok: false, code: failure.code, step: failure.step, message: (error as Error).message });
    } catch {
      // The daemon went away.
    }
    process.exit(1);
  }
}

if (process.env[HELPER_MARK] === '1') main();
