import { spawn, type ChildProcess } from 'node:child_process';
import { Transform, type Readable, type Writable } from 'node:stream';
import { HELPER_MARK, type HelperHeader, type HelperRequest } from './io-helper.js';
import { ioHelperSource } from './io-helper-source.js';

/** The OS identity a helper holds; undefined runs it as the daemon's own account. */
export interface RunAs {
  uid: number;
  gid: number;
}

/** The helper refused or failed: `code` is an errno code or one of the helper's own codes. */
export class HelperError extends Error {
  override name = 'HelperError';
  constructor(readonly code: string, readonly step: string, message: string) {
    super(message);
  }
}

// A header holds at most a listing of 1000 entries.
const MAX_HEADER_BYTES = 4 * 1024 * 1024;
const MAX_STDERR_BYTES = 4096;
// A helper told to abort removes its temporary file and exits at once; past this it is killed.
const ABORT_GRACE_MS = 10_000;
const STREAM_CHUNK = 1024 * 1024;

interface Helper {
  child: ChildProcess;
  stdout: Readable;
  /** Resolves with the exit code (null when killed by a signal); rejects when it could not start. */
  exited: Promise<number | null>;
  stderr(): string;
}

async function start(request: HelperRequest, runAs: RunAs | undefined, withInput: boolean): Promise<Helper> {
  const source = await ioHelperSource();
  // Nothing of the daemon's environment reaches a process the caller's account can inspect.
  const child = spawn(process.execPath, ['--input-type=module', '-e', source, '--', JSON.stringify(request)], {
    cwd: '/',
    env: { [HELPER_MARK]: '1' },
    stdio: [withInput ? 'pipe' : 'ignore', 'pipe', 'pipe', withInput ? 'pipe' : 'ignore'],
    // With uid/gid set, the runtime also clears the supplementary groups before switching.
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    if (stderr.length < MAX_STDERR_BYTES) stderr += chunk.toString('utf8').slice(0, MAX_STDERR_BYTES - stderr.length);
  });
  // A helper that dies closes its pipes under us: those errors surface through its exit, never as a crash.
  for (const stream of child.stdio) stream?.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  exited.catch(() => undefined);
  return { child, stdout: child.stdout!, exited, stderr: () => stderr.trim() };
}

/**
 * The first line of a stream, for `read`: what follows it is left in the stream, paused. The
 * caller must attach its consumer before its next await: a child's paused output is resumed, and
 * so discarded, when the child exits.
 */
function readFirstLine(stream: Readable): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const finish = (settle: () => void): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.pause();
      settle();
    };
    const onData = (chunk: Buffer): void => {
      const newline = chunk.indexOf(0x0a);
      if (newline === -1) {
        parts.push(chunk);
        size += chunk.length;
        if (size > MAX_HEADER_BYTES) finish(() => reject(oversized()));
        return;
      }
      parts.push(chunk.subarray(0, newline));
      finish(() => {
        if (newline + 1 < chunk.length) stream.unshift(chunk.subarray(newline + 1));
        resolve(Buffer.concat(parts).toString('utf8'));
      });
    };
    const onEnd = (): void => finish(() => resolve(undefined));
    const onError = (error: Error): void => finish(() => reject(error));
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

const oversized = (): HelperError => new HelperError('EPROTO', 'header', 'the file helper sent an oversized header');

/** Header lines of a helper whose output is nothing but lines; it keeps reading, so nothing is lost at exit. */
class LineReader {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly lines: string[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(stream: Readable) {
    stream.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      for (let newline = this.buffered.indexOf(0x0a); newline !== -1; newline = this.buffered.indexOf(0x0a)) {
        this.lines.push(this.buffered.subarray(0, newline).toString('utf8'));
        this.buffered = this.buffered.subarray(newline + 1);
      }
      if (this.buffered.length > MAX_HEADER_BYTES) {
        this.failure = oversized();
        stream.destroy();
      }
      this.wake?.();
    });
    stream.once('end', () => {
      this.ended = true;
      this.wake?.();
    });
    stream.once('error', (error: Error) => {
      this.failure ??= error;
      this.ended = true;
      this.wake?.();
    });
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.failure) throw this.failure;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

/** A header that must say ok; a failure becomes a HelperError. */
function parseHeader(line: string): HelperHeader {
  let header: HelperHeader;
  try {
    header = JSON.parse(line) as HelperHeader;
  } catch {
    throw new HelperError('EPROTO', 'header', 'the file helper sent an unreadable header');
  }
  if (!header.ok) throw new HelperError(header.code ?? 'EIO', header.step ?? 'io', header.message ?? 'file helper failure');
  return header;
}

/** No header came: the helper could not start, or stopped. */
async function missingHeader(helper: Helper): Promise<never> {
  const code = await helper.exited.catch((error: NodeJS.ErrnoException) => {
    throw new HelperError(error.code ?? 'EIO', 'start', `the file helper could not start: ${error.message}`);
  });
  throw new HelperError('EIO', 'exit', `the file helper stopped (exit ${code ?? 'by signal'})${helper.stderr() ? `: ${helper.stderr()}` : ''}`);
}

async function nextHeader(helper: Helper, lines: LineReader): Promise<HelperHeader> {
  const line = await lines.next();
  return line === undefined ? missingHeader(helper) : parseHeader(line);
}

function kill(helper: Helper): void {
  if (helper.child.exitCode === null && helper.child.signalCode === null) helper.child.kill('SIGKILL');
}

async function waitOrKill(helper: Helper, ms: number): Promise<void> {
  const timer = setTimeout(() => kill(helper), ms);
  try {
    await helper.exited.catch(() => undefined);
  } finally {
    clearTimeout(timer);
  }
}

/** One request, one answer (list, stat, workspaces, identity). */
export async function askHelper(request: HelperRequest, runAs: RunAs | undefined): Promise<HelperHeader> {
  const helper = await start(request, runAs, false);
  const lines = new LineReader(helper.stdout);
  try {
    const header = await nextHeader(helper, lines);
    await helper.exited;
    return header;
  } finally {
    kill(helper);
  }
}

/**
 * A file's bytes. `approve` sees the header (size, owner, opened path) before any byte is passed
 * on and may refuse; the stream then carries exactly `size` bytes of the requested range, or fails.
 */
export async function readWithHelper(
  request: Extract<HelperRequest, { op: 'read' }>,
  runAs: RunAs | undefined,
  approve: (header: HelperHeader) => Promise<void>,
): Promise<{ header: HelperHeader; stream: Readable; length: number }> {
  const helper = await start(request, runAs, false);
  let header: HelperHeader;
  let stream: Readable;
  let length: number;
  try {
    const line = await readFirstLine(helper.stdout);
    header = line === undefined ? await missingHeader(helper) : parseHeader(line);
    const size = header.size ?? 0;
    const offset = Math.min(Math.max(0, request.offset ?? 0), size);
    length = request.length === undefined ? size - offset : Math.min(size - offset, Math.max(0, request.length));
    // Attached before anything else is awaited (see readFirstLine).
    stream = exactly(length, helper.stdout);
  } catch (error) {
    kill(helper);
    throw error;
  }
  try {
    await approve(header);
  } catch (error) {
    stream.destroy();
    kill(helper);
    throw error;
  }
  // A reader that goes away stops the helper.
  stream.once('close', () => kill(helper));
  void helper.exited.then((code) => {
    if (code !== 0 && !stream.destroyed) stream.destroy(new HelperError('EIO', 'read', `the file helper stopped (exit ${code ?? 'by signal'})`));
  }, () => undefined);
  return { header, stream, length };
}

/**
 * Writes a file from `content`. The helper creates its temporary file first; `approve` sees where
 * it was opened and may refuse before any byte is sent. The file is published only once all of
 * `content` has arrived; on any failure the helper removes its temporary file before this returns.
 */
export async function writeWithHelper(
  request: Extract<HelperRequest, { op: 'write' }>,
  runAs: RunAs | undefined,
  approve: (header: HelperHeader) => Promise<void>,
  content: AsyncIterable<Buffer>,
): Promise<void> {
  const helper = await start(request, runAs, true);
  const lines = new LineReader(helper.stdout);
  const stdin = helper.child.stdin!;
  const control = helper.child.stdio[3] as Writable;
  let sending = false;
  try {
    await approve(await nextHeader(helper, lines));
    sending = true;
    await pump(content, stdin);
  } catch (error) {
    // Without `commit` the helper discards what it wrote.
    control.destroy();
    stdin.destroy();
    await waitOrKill(helper, ABORT_GRACE_MS);
    // A pipe broken by the helper: its own failure (no space, a refused write) says why.
    if (sending && error instanceof HelperError && error.code === 'EPIPE') {
      await nextHeader(helper, lines).catch((failure: unknown) => {
        if (failure instanceof HelperError && failure.step !== 'exit' && failure.code !== 'ECANCELED') throw failure;
      });
    }
    throw error;
  }
  control.end('commit\n');
  try {
    await nextHeader(helper, lines);
    await helper.exited;
  } finally {
    kill(helper);
  }
}

/** Writes with backpressure: the pipe's buffer bounds what is held in memory. */
async function pump(source: AsyncIterable<Buffer>, sink: Writable): Promise<void> {
  let failure: Error | undefined;
  const onError = (error: Error): void => {
    failure ??= error;
  };
  sink.on('error', onError);
  // The helper stopped reading: whatever the pipe reported, the cause is the helper's.
  const closed = new Promise<HelperError>((resolve) => sink.once('close', () => resolve(new HelperError('EPIPE', 'copy', 'the file helper stopped reading'))));
  try {
    for await (const chunk of source) {
      if (failure || sink.destroyed) throw new HelperError('EPIPE', 'copy', `the file helper stopped reading${failure ? ` (${failure.message})` : ''}`);
      if (!sink.write(chunk)) {
        const outcome = await Promise.race([new Promise<undefined>((resolve) => sink.once('drain', () => resolve(undefined))), closed]);
        if (outcome) throw outcome;
      }
    }
    if (failure) throw new HelperError('EPIPE', 'copy', `the file helper stopped reading (${failure.message})`);
    sink.end();
  } finally {
    sink.off('error', onError);
  }
}

/** Passes exactly `length` bytes and fails if fewer arrive (the file shrank, the helper died). */
function exactly(length: number, source: Readable): Readable {
  let seen = 0;
  const limited = new Transform({
    readableHighWaterMark: STREAM_CHUNK,
    writableHighWaterMark: STREAM_CHUNK,
    transform(chunk: Buffer, _encoding, done) {
      const room = length - seen;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      seen += part.length;
      done(null, part.length > 0 ? part : undefined);
    },
    flush(done) {
      done(seen === length ? null : new HelperError('EIO', 'read', 'the file changed size while it was read'));
    },
  });
  source.once('error', (error) => limited.destroy(error));
  // Its consumer may attach later (the answer's headers come first): an early failure waits in the stream's state, never crashes.
  limited.on('error', () => undefined);
  limited.once('close', () => source.destroy());
  source.pipe(limited);
  return limited;
}
