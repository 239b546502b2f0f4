import { randomBytes } from 'node:crypto';
import { constants, createWriteStream, existsSync, type Stats } from 'node:fs';
import { link, lstat, open, readdir, readlink, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { posix } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { once } from 'node:events';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import { runningAsRoot } from '../auth/os-user.js';
import type { Authorizer } from '../service/authorize.js';
import { badRequest, forbidden, ServiceError } from '../service/errors.js';
import { formDataBoundary, multipartPart, MultipartError } from './multipart.js';
import { ownerNames, resolveGroupId, resolveUserId } from './owner.js';
import { askHelper, HelperError, readWithHelper, writeWithHelper, type RunAs } from './io-helper-client.js';
import type { ExecIdentity } from '../auth/exec-user.js';
import { checkContained, checkFilePath, invalidPath, type CheckedPath, type PathRules } from './path-policy.js';

export interface FileServiceSettings {
  /** The jail and the daemon's own folder (see PathRules). */
  rules: () => PathRules;
  /**
   * The OS account the caller's processes run as: a switched one does its file I/O in a helper
   * holding that account's credentials.
   */
  identity: (user: string) => ExecIdentity;
  /** `Limits.MaxUploadBytes`. */
  maxUploadBytes: () => number;
}

export interface FileDownload {
  stream: Readable;
  size: number;
  /** Permission bits (0–511). */
  mode: number;
  user: string;
  group: string;
  /** Base name of the requested path. */
  name: string;
}

export interface UploadOptions {
  /** `X-File-Mode`: permission bits in decimal. */
  mode?: string;
  /** `X-File-User` / `X-File-Group`: names or numeric ids. */
  user?: string;
  group?: string;
  contentType?: string;
  /** Declared body length, when known: lets an oversized upload fail before any byte is written. */
  contentLength?: number;
  /** Replace an existing regular file (agent file tools; REST uploads never overwrite). */
  overwrite?: boolean;
}

export interface FileEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
  mode: number;
  modified: number;
}

/** Most entries one listing returns. */
const MAX_LIST_ENTRIES = 1000;

const MISSING_PATH = "header 'X-File-Path' not found";
// Room for the multipart envelope around the file part (field names, headers, boundaries).
const MULTIPART_OVERHEAD = 1024 * 1024;
// Fewer, larger reads: a download runs at several times the speed of 64 KiB chunks.
const READ_CHUNK_BYTES = 1024 * 1024;
// Keeps the temporary name within NAME_MAX whatever the target's name length.
const TEMP_NAME_CHARS = 100;
// Entries of an opened folder are reached through its descriptor where /proc offers one.
const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;

/**
 * File download and upload: the sandbox's I/O. For a caller whose work runs as another OS account
 * (a switched identity), every open, write, listing and removal happens in the I/O helper holding
 * that account's uid/gid, so the kernel decides; the path rules are a second fence before it. For
 * the daemon's own account the daemon does the I/O itself, never following a final link and never
 * blocking on what is not a regular file.
 */
export class FileService {
  constructor(
    private readonly authorizer: Authorizer,
    private readonly audit: AuditLog,
    private readonly settings: FileServiceSettings,
  ) {}

  async download(principal: Principal, rawPath: string | undefined): Promise<FileDownload> {
    this.authorizer.authorize(principal, 'file-download');
    if (!rawPath) throw badRequest(MISSING_PATH);
    return this.audited(principal, 'file.download', rawPath, async () => {
      const path = await checkFilePath(rawPath, this.settings.rules());
      const runAs = this.runAsOf(principal);
      return runAs ? this.downloadAs(runAs, path) : this.downloadHere(path);
    });
  }

  private async downloadAs(runAs: RunAs, path: CheckedPath): Promise<FileDownload> {
    const { header, stream } = await readWithHelper({ op: 'read', path: path.canonical }, runAs, (opened) => this.checkOpenedPath(opened.opened, path)).catch((error: unknown) => {
      throw readError(error);
    });
    const { user, group } = await ownerNames(header.uid ?? -1, header.gid ?? -1);
    return { stream, size: header.size ?? 0, mode: header.mode ?? 0, user, group, name: posix.basename(path.requested) };
  }

  private async downloadHere(path: CheckedPath): Promise<FileDownload> {
    const handle = await openRegularFile(path.canonical);
    try {
      const info = await handle.stat();
      await this.checkOpened(handle, path);
      const { user, group } = await ownerNames(info.uid, info.gid);
      const download = { size: info.size, mode: info.mode & 0o777, user, group, name: posix.basename(path.requested) };
      if (info.size === 0) {
        await handle.close();
        return { ...download, stream: Readable.from([]) };
      }
      // Exactly the size announced in Content-Length, even if the file grows meanwhile.
      return { ...download, stream: handle.createReadStream({ start: 0, end: info.size - 1, highWaterMark: READ_CHUNK_BYTES }) };
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
  }

  async upload(principal: Principal, rawPath: string | undefined, body: Readable, options: UploadOptions = {}): Promise<void> {
    this.authorizer.authorize(principal, 'file-upload');
    if (!rawPath) throw badRequest(MISSING_PATH);
    await this.audited(principal, 'file.upload', rawPath, async () => {
      const mode = parseMode(options.mode);
      const owner = await resolveOwner(options.user, options.group);
      const boundary = multipartBoundary(options.contentType);
      const limit = this.settings.maxUploadBytes();
      if (options.contentLength !== undefined && options.contentLength > limit + (boundary ? MULTIPART_OVERHEAD : 0)) throw tooLarge(limit);
      const path = await checkFilePath(rawPath, this.settings.rules());
      const identity = this.identityOf(principal);
      // Giving a file away is for accounts that could do it themselves (root).
      if (identity.switched && owner && ((owner.uid !== -1 && owner.uid !== identity.user.uid) || (owner.gid !== -1 && owner.gid !== identity.user.gid))) {
        throw forbidden(`Permission denied: ${identity.user.name} may not give files to another owner`);
      }
      // The stream is never destroyed here, so an error can still be answered on the connection.
      const source = body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
      const content = limitBytes(boundary ? multipartPart(source, boundary, 'file') : source, limit);
      const overwrite = options.overwrite === true;
      if (identity.switched) {
        // The helper runs as the caller's account: what it creates is that account's already.
        await writeWithHelper({ op: 'write', path: path.canonical, overwrite, mode }, runAsOf(identity), (opened) => this.checkOpenedPath(opened.opened, path), content)
          .catch((error: unknown) => {
            throw uploadError(writeError(error, path));
          });
        return;
      }
      await this.uploadHere(path, content, { mode, owner, overwrite });
    });
  }

  private async uploadHere(path: CheckedPath, content: AsyncIterable<Buffer>, options: { mode?: number; owner?: { uid: number; gid: number }; overwrite: boolean }): Promise<void> {
    // lstat: a dangling link is an existing entry too.
    if (!options.overwrite && ((await exists(path.requested)) || (await exists(path.canonical)))) throw forbidden('file already exist');
    let mode = options.mode;
    if (options.overwrite) {
      const current = await lstat(path.canonical).catch(() => undefined);
      if (current && !current.isFile()) throw badRequest(`${path.requested} is not a regular file`);
      // A replaced file keeps its permissions unless new ones are given.
      if (current && mode === undefined) mode = current.mode & 0o777;
    }
    const dir = posix.dirname(path.canonical);
    const dirInfo = await stat(dir).catch(() => undefined);
    if (!dirInfo) throw badRequest(`Directory ${posix.dirname(path.requested)} does not exist`);
    if (!dirInfo.isDirectory()) throw badRequest(`${posix.dirname(path.requested)} is not a directory`);

    const name = posix.basename(path.canonical);
    const temp = posix.join(dir, `.${name.slice(0, TEMP_NAME_CHARS)}.${randomBytes(6).toString('hex')}.part`);
    // O_EXCL never follows a link planted at the temporary name.
    const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600).catch((error: NodeJS.ErrnoException) => {
      throw new ServiceError(error.code === 'EACCES' || error.code === 'EPERM' ? 403 : 500, `Cannot create a file in ${posix.dirname(path.requested)}: ${error.code}`);
    });
    let published = false;
    try {
      await this.checkOpened(handle, { requested: path.requested, canonical: temp });
      // A stream on the bare fd: one made by the FileHandle holds a reference that keeps close() waiting.
      await writeAll(content, createWriteStream('', { fd: handle.fd, autoClose: false, highWaterMark: 1024 * 1024 }));
      await handle.sync();
      // Owner first: chown may clear mode bits set before it.
      if (options.owner) await handle.chown(options.owner.uid, options.owner.gid);
      if (mode !== undefined) await handle.chmod(mode);
      await handle.close();
      if (options.overwrite) await rename(temp, posix.join(dir, name));
      else await publish(temp, posix.join(dir, name));
      published = true;
      await syncDirectory(dir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      if (!published) await unlink(temp).catch(() => undefined);
      throw uploadError(error);
    }
  }

  /** A byte range of a file (agents read files in pieces). */
  async readRange(principal: Principal, rawPath: string, offset: number, length: number): Promise<{ data: Buffer; size: number; mode: number }> {
    this.authorizer.authorize(principal, 'file-download');
    return this.audited(principal, 'file.download', rawPath, async () => {
      const path = await checkFilePath(rawPath, this.settings.rules());
      const runAs = this.runAsOf(principal);
      if (runAs) {
        const { header, stream } = await readWithHelper({ op: 'read', path: path.canonical, offset, length }, runAs, (opened) => this.checkOpenedPath(opened.opened, path)).catch((error: unknown) => {
          throw readError(error);
        });
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return { data: Buffer.concat(chunks), size: header.size ?? 0, mode: header.mode ?? 0 };
      }
      const handle = await openRegularFile(path.canonical);
      try {
        await this.checkOpened(handle, path);
        const info = await handle.stat();
        const start = Math.min(Math.max(0, offset), info.size);
        const data = Buffer.alloc(Math.max(0, Math.min(length, info.size - start)));
        const { bytesRead } = await handle.read(data, 0, data.length, start);
        return { data: data.subarray(0, bytesRead), size: info.size, mode: info.mode & 0o777 };
      } finally {
        await handle.close();
      }
    });
  }

  /** Entries of a directory, under the same path rules as transfers. */
  async list(principal: Principal, rawPath: string): Promise<{ path: string; entries: FileEntry[]; truncated: boolean }> {
    this.authorizer.authorize(principal, 'file-download');
    const path = await checkFilePath(rawPath, this.settings.rules());
    const runAs = this.runAsOf(principal);
    if (runAs) {
      const header = await askHelper({ op: 'list', path: path.canonical, max: MAX_LIST_ENTRIES }, runAs).catch((error: unknown) => {
        throw listError(error, path);
      });
      await this.checkOpenedPath(header.opened, path);
      return { path: path.requested, entries: header.entries ?? [], truncated: header.truncated === true };
    }
    const handle = await open(path.canonical, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: unknown) => {
      throw listError(error, path);
    });
    try {
      await this.checkOpened(handle, path);
      // Entries are reached through the opened folder, not through a path that can be swapped.
      const base = PROC_FD ? `${PROC_FD}/${handle.fd}` : path.canonical;
      const names = (await readdir(base)).sort();
      const entries = await Promise.all(names.slice(0, MAX_LIST_ENTRIES).map(async (name) => describe(name, posix.join(base, name))));
      return { path: path.requested, entries: entries.filter((entry): entry is FileEntry => entry !== undefined), truncated: names.length > MAX_LIST_ENTRIES };
    } finally {
      await handle.close();
    }
  }

  async stat(principal: Principal, rawPath: string): Promise<FileEntry & { path: string; user: string; group: string }> {
    this.authorizer.authorize(principal, 'file-download');
    const path = await checkFilePath(rawPath, this.settings.rules());
    const runAs = this.runAsOf(principal);
    if (runAs) {
      const header = await askHelper({ op: 'stat', path: path.canonical }, runAs).catch((error: unknown) => {
        throw statError(error);
      });
      await this.checkOpenedPath(header.opened, path);
      if (!header.entry) throw new ServiceError(500, 'the file helper gave no description');
      return { ...header.entry, path: path.requested, ...(await ownerNames(header.uid ?? -1, header.gid ?? -1)) };
    }
    const info = await lstat(path.canonical).catch((error: unknown) => {
      throw statError(error);
    });
    const entry = entryOf(posix.basename(path.requested), info);
    return { ...entry, path: path.requested, ...(await ownerNames(info.uid, info.gid)) };
  }

  private identityOf(principal: Principal): ExecIdentity {
    try {
      return this.settings.identity(principal.name);
    } catch (error) {
      throw forbidden((error as Error).message);
    }
  }

  /** The identity the helper must hold for this caller; undefined when the daemon acts as itself. */
  private runAsOf(principal: Principal): RunAs | undefined {
    const identity = this.identityOf(principal);
    return identity.switched ? runAsOf(identity) : undefined;
  }

  /**
   * The path the kernel reports for the opened file must pass the same rules: a parent folder
   * replaced by a link between the check and the open is caught here (Linux /proc; skipped elsewhere).
   */
  private async checkOpened(handle: FileHandle, path: CheckedPath): Promise<void> {
    const opened = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
    await this.checkOpenedPath(opened, path);
  }

  private async checkOpenedPath(opened: string | undefined, path: CheckedPath): Promise<void> {
    if (opened === undefined || opened === path.canonical || !opened.startsWith('/')) return;
    // An upload's temporary file sits beside its target.
    if (posix.basename(opened).startsWith('.') && posix.dirname(opened) === posix.dirname(path.canonical)) return;
    await checkContained(opened, this.settings.rules());
  }

  private async audited<T>(principal: Principal, event: string, rawPath: string, operation: () => Promise<T>): Promise<T> {
    const base = { event, user: principal.name, client: principal.client, target: rawPath };
    try {
      const result = await operation();
      this.audit.record({ ...base, outcome: 'success' });
      return result;
    } catch (error) {
      this.audit.record({ ...base, outcome: 'failure', detail: (error as Error).message });
      throw error;
    }
  }
}

const runAsOf = (identity: ExecIdentity): RunAs => ({ uid: identity.user.uid, gid: identity.user.gid });

/** Opens for reading without following a final link or blocking (a FIFO), and only a regular file. */
async function openRegularFile(path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    throw readError(error);
  }
  const info = await handle.stat().catch(() => undefined);
  if (!info?.isFile()) {
    await handle.close().catch(() => undefined);
    throw new ServiceError(406, 'file not found');
  }
  return handle;
}

const codeOf = (error: unknown): string | undefined => (error instanceof HelperError ? error.code : (error as NodeJS.ErrnoException | undefined)?.code);
const denied = (code: string | undefined): boolean => code === 'EACCES' || code === 'EPERM';
const CHANGED = 'the path changed while it was opened';

function readError(error: unknown): unknown {
  if (error instanceof ServiceError) return error;
  const code = codeOf(error);
  if (code === 'ELOOP') return invalidPath(CHANGED);
  if (denied(code)) return forbidden('Permission denied reading the file');
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'NOT_REGULAR' || code === 'ENXIO' || code === 'ENAMETOOLONG') return new ServiceError(406, 'file not found');
  return helperFault(error);
}

function writeError(error: unknown, path: CheckedPath): unknown {
  if (!(error instanceof HelperError)) return error;
  const dir = posix.dirname(path.requested);
  switch (error.code) {
    case 'ENOENT':
      return error.step === 'parent' ? badRequest(`Directory ${dir} does not exist`) : helperFault(error);
    case 'ENOTDIR':
    case 'PARENT_NOT_DIRECTORY':
      return badRequest(`${dir} is not a directory`);
    case 'EEXIST':
      return forbidden('file already exist');
    case 'NOT_REGULAR':
    case 'EISDIR':
      return badRequest(`${path.requested} is not a regular file`);
    case 'ELOOP':
      return invalidPath(CHANGED);
    case 'EACCES':
    case 'EPERM':
      return error.step === 'publish' ? forbidden(`Permission denied: cannot replace ${path.requested}`) : forbidden(`Cannot create a file in ${dir}: ${error.code}`);
    case 'EROFS':
      return forbidden(`${dir} is on a read-only file system`);
    case 'ENAMETOOLONG':
      return badRequest('the file name is too long');
    case 'ENOSPC':
    case 'EDQUOT':
      return new ServiceError(507, 'Not enough space to store the file');
    default:
      return helperFault(error);
  }
}

function listError(error: unknown, path: CheckedPath): unknown {
  const code = codeOf(error);
  if (denied(code)) return forbidden(`Permission denied reading ${path.requested}`);
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'NOT_DIRECTORY') return new ServiceError(406, `${path.requested} is not a directory`);
  return helperFault(error);
}

function statError(error: unknown): unknown {
  const code = codeOf(error);
  if (denied(code)) return forbidden('Permission denied reading the file');
  if (code === 'ENOENT' || code === 'ENOTDIR') return new ServiceError(406, 'file not found');
  return helperFault(error);
}

/** What the helper could not do for a reason that is not the caller's: a server fault, said plainly. */
function helperFault(error: unknown): unknown {
  if (!(error instanceof HelperError)) return error;
  return new ServiceError(500, `File operation failed: ${error.message}`);
}

function parseMode(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const value = text.trim();
  if (!/^\d{1,3}$/.test(value) || Number(value) > 0o777) throw badRequest(`X-File-Mode must be permission bits in decimal (0-511), got '${value}'`);
  return Number(value);
}

/** Ownership is applied only by a root daemon; anyone else cannot give files away, so it is ignored. */
async function resolveOwner(user: string | undefined, group: string | undefined): Promise<{ uid: number; gid: number } | undefined> {
  user = user?.trim() || undefined;
  group = group?.trim() || undefined;
  if (!runningAsRoot() || (user === undefined && group === undefined)) return undefined;
  const uid = user === undefined ? -1 : await resolveUserId(user);
  if (uid === undefined) throw badRequest(`Unknown user '${user}' in X-File-User`);
  const gid = group === undefined ? -1 : await resolveGroupId(group);
  if (gid === undefined) throw badRequest(`Unknown group '${group}' in X-File-Group`);
  return { uid, gid };
}

function multipartBoundary(contentType: string | undefined): string | undefined {
  try {
    return formDataBoundary(contentType);
  } catch (error) {
    throw badRequest((error as Error).message);
  }
}

const tooLarge = (limit: number): ServiceError => new ServiceError(413, `Upload exceeds the limit of ${limit} bytes`);

async function* limitBytes(source: AsyncIterable<Buffer>, limit: number): AsyncGenerator<Buffer, void, undefined> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > limit) throw tooLarge(limit);
    yield chunk;
  }
}

/** Writes with backpressure; the sink's buffer bounds what is held in memory. */
async function writeAll(source: AsyncIterable<Buffer>, sink: Writable): Promise<void> {
  let failure: Error | undefined;
  sink.on('error', (error) => (failure = error));
  try {
    for await (const chunk of source) {
      if (failure) throw failure;
      if (!sink.write(chunk)) await once(sink, 'drain');
    }
    sink.end();
    await once(sink, 'finish');
  } finally {
    if (!sink.writableFinished) sink.destroy();
  }
  if (failure) throw failure;
}

/**
 * Moves the finished file to its name without ever replacing a file that appeared meanwhile:
 * link() fails with EEXIST instead of overwriting. File systems without hard links fall back to
 * a check then rename, which leaves a narrow race.
 */
async function publish(temp: string, target: string): Promise<void> {
  try {
    await link(temp, target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw forbidden('file already exist');
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EMLINK') throw error;
    if (await exists(target)) throw forbidden('file already exist');
    await rename(temp, target);
    return;
  }
  await unlink(temp);
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  // Some file systems refuse fsync on directories; the file itself is already on disk.
  await handle.sync().catch(() => undefined);
  await handle.close();
}

const exists = (path: string): Promise<boolean> => lstat(path).then(() => true, () => false);

function uploadError(error: unknown): unknown {
  if (error instanceof ServiceError) return error;
  if (error instanceof MultipartError) return badRequest(error.message);
  const code = (error as NodeJS.ErrnoException).code;
  // The client went away mid-body: nobody will read this answer, but it must not look like a server fault.
  if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || (error as Error).message === 'aborted') return badRequest('Upload aborted by the client');
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ServiceError(507, 'Not enough space to store the file');
  return error;
}

async function describe(name: string, path: string): Promise<FileEntry | undefined> {
  const info = await lstat(path).catch(() => undefined);
  return info && entryOf(name, info);
}

function entryOf(name: string, info: Stats): FileEntry {
  const type = info.isFile() ? 'file' : info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : 'other';
  return { name, type, size: info.size, mode: info.mode & 0o777, modified: Math.floor(info.mtimeMs / 1000) };
}
