import { Readable } from 'node:stream';
import type { Principal } from '../auth/principal.js';
import type { Core } from '../service/core.js';
import type { MessageRequest } from './messages.js';

/** Data frames of a file transfer: at most this many bytes each (as the original, TLS-record sized). */
export const FILE_FRAME_BYTES = 16 * 1024 - 256;

/** What a face offers for file transfer: raw data frames, and flow control of what the peer sends. */
export interface FileFrames {
  /** One data frame (zero-length = end of file); resolves when the connection can take more. */
  sendFrame(bytes: Uint8Array): Promise<void>;
  pauseInput(): void;
  resumeInput(): void;
}

export type TransferKind = 'download' | 'upload';

/** A request asking for a file transfer on the connection itself (header X-Recv-File-Socket or X-Send-File-Socket). */
export function transferKind(request: MessageRequest): TransferKind | undefined {
  const path = request.request_uri.split('?')[0];
  if (request.http_method === 'GET' && path === '/appmesh/file/download' && headerOf(request, 'x-recv-file-socket') === 'true') return 'download';
  if (request.http_method === 'POST' && path === '/appmesh/file/upload' && headerOf(request, 'x-send-file-socket') === 'true') return 'upload';
  return undefined;
}

export function headerOf(request: MessageRequest, name: string): string | undefined {
  return Object.entries(request.headers ?? {}).find(([key]) => key.toLowerCase() === name)?.[1];
}

/** The X-File-Path of a request: the clients send it percent-encoded. */
export function filePath(request: MessageRequest): string | undefined {
  const raw = headerOf(request, 'x-file-path');
  if (raw === undefined) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export async function caller(core: Core, request: MessageRequest, client: string): Promise<Principal> {
  const token = headerOf(request, 'authorization')?.trim().replace(/^Bearer\s+/i, '').trim() || undefined;
  return core.auth.authenticate(token, undefined, client);
}

/**
 * The body of an upload fed by the connection's data frames: reading pulls from the peer, a full
 * buffer pauses it (the daemon never holds more than a buffer of a file in memory).
 */
export class UploadBody extends Readable {
  private started = false;
  readonly reading: Promise<void>;
  private markReading!: () => void;

  constructor(private readonly frames: FileFrames) {
    super({ highWaterMark: 1024 * 1024 });
    this.reading = new Promise((resolve) => (this.markReading = resolve));
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.markReading();
    }
    this.frames.resumeInput();
  }

  /** A data frame from the peer; an empty one ends the file. */
  feed(chunk: Buffer): void {
    if (chunk.length === 0) {
      this.push(null);
      return;
    }
    if (!this.push(chunk)) this.frames.pauseInput();
  }
}
