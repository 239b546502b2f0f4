import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, stat } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Session } from './session.js';
import type { RemoteFileInfo, TransferProgress } from './types.js';

export interface TransferOptions {
  /** Called as bytes go by (for a progress bar). */
  onProgress?: (progress: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface DownloadOptions extends TransferOptions {
  /** Apply the remote file's permission bits to the local copy (default true). */
  keepMode?: boolean;
}

export interface UploadOptions extends TransferOptions {
  /** Permission bits for the remote file (default: the local file's, unless `keepMode` is false). */
  mode?: number;
  keepMode?: boolean;
  /** Owner and group of the remote file (names or ids; the daemon decides whether it may). */
  user?: string;
  group?: string;
}

function infoFrom(headers: Headers): RemoteFileInfo {
  const mode = headers.get('x-file-mode');
  const size = headers.get('content-length');
  return {
    // The daemon sends the permission bits in decimal.
    mode: mode === null || !/^\d+$/.test(mode) ? undefined : Number(mode) & 0o777,
    user: headers.get('x-file-user') ?? undefined,
    group: headers.get('x-file-group') ?? undefined,
    size: size === null ? undefined : Number(size),
  };
}

function counter(total: number | undefined, onProgress?: (progress: TransferProgress) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      onProgress?.({ bytes, total });
      done(null, chunk);
    },
  });
}

/** Files of the daemon's host: streamed both ways, never held whole in memory. */
export class FilesApi {
  constructor(private readonly session: Session) {}

  /** `GET /appmesh/file/download` as a stream, with the remote file's mode, owner and size. */
  async open(remotePath: string, signal?: AbortSignal): Promise<{ info: RemoteFileInfo; stream: Readable }> {
    const response = await this.session.request('GET', '/appmesh/file/download', { headers: { 'X-File-Path': encodeURIComponent(remotePath) }, signal });
    const body = response.body ? Readable.fromWeb(response.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    return { info: infoFrom(response.headers), stream: body };
  }

  /** Downloads to a local file; keeps the remote permission bits unless told not to. */
  async download(remotePath: string, localPath: string, options: DownloadOptions = {}): Promise<RemoteFileInfo> {
    const { info, stream } = await this.open(remotePath, options.signal);
    await pipeline(stream, counter(info.size, options.onProgress), createWriteStream(localPath), { signal: options.signal });
    if (options.keepMode !== false && info.mode !== undefined) await chmod(localPath, info.mode);
    return info;
  }

  /** Uploads bytes or a stream to a remote path that must not exist yet. */
  async upload(remotePath: string, content: Uint8Array | Readable, options: UploadOptions & { size?: number } = {}): Promise<void> {
    const size = content instanceof Uint8Array ? content.length : options.size;
    const body = content instanceof Uint8Array ? content : Readable.toWeb(content.pipe(counter(size, options.onProgress)));
    await this.session.request('POST', '/appmesh/file/upload', {
      headers: {
        'X-File-Path': encodeURIComponent(remotePath),
        'Content-Type': 'application/octet-stream',
        'X-File-Mode': options.mode === undefined ? undefined : String(options.mode & 0o777),
        'X-File-User': options.user,
        'X-File-Group': options.group,
      },
      body,
      signal: options.signal,
    });
    if (content instanceof Uint8Array) options.onProgress?.({ bytes: content.length, total: content.length });
  }

  /** Uploads a local file, with its permission bits unless `keepMode` is false. */
  async uploadFile(localPath: string, remotePath: string, options: UploadOptions = {}): Promise<void> {
    const local = await stat(localPath);
    const mode = options.mode ?? (options.keepMode === false ? undefined : local.mode & 0o777);
    await this.upload(remotePath, createReadStream(localPath), { ...options, mode, size: local.size });
  }
}
