import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const POLL_MS = 100;
const MAX_CHUNK = 64 * 1024;
const MAX_PER_PUMP = 1024 * 1024;

export interface StdoutChunk {
  output: string;
  /** Byte offset of the chunk's start in the run's output. */
  position: number;
  finished: boolean;
}

/**
 * Turns a run's output file into STDOUT events while somebody subscribes to them: new bytes are
 * read every 100 ms, cut on UTF-8 character boundaries, and a last chunk marked `finished` is
 * produced when the run ends. Nobody listening costs nothing.
 */
export class StdoutPump {
  private position = 0;
  private timer?: NodeJS.Timeout;
  private running = false;
  /** The file was not read while nobody listened: start from its current end next time. */
  private lost = false;
  /** Counts runs, so a pass scheduled for one run never reads the next run's file. */
  private generation = 0;

  constructor(
    private readonly file: string,
    private readonly wanted: () => boolean,
    private readonly emit: (chunk: StdoutChunk) => void,
  ) {}

  /** A new run: its output is read from the start if somebody listens already. */
  start(): void {
    this.stop();
    this.running = true;
    this.position = 0;
    this.lost = false;
    this.generation++;
    this.poke();
  }

  /**
   * Re-checks whether anybody listens (each scheduler tick): the 100 ms timer runs only then,
   * so a supervisor of many apps does not wake up for output nobody reads.
   */
  poke(): void {
    if (!this.running) return;
    if (this.wanted()) {
      this.timer ??= setInterval(() => this.pump(false), POLL_MS).unref();
    } else if (this.timer) {
      this.stop();
      this.lost = true;
    }
  }

  /** The run ended: the rest of its output, then the `finished` marker. */
  finish(): void {
    this.stop();
    this.running = false;
    this.pump(true);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Reads at most MAX_PER_PUMP bytes, so one busy output cannot hold the event loop; what is left
   * is read in the next turn of the loop, not at the next poll, so a fast writer is never outrun
   * and the end of a run is never cut (the output file itself is capped).
   */
  private pump(final: boolean): void {
    if (!this.wanted()) {
      this.lost = true;
      return;
    }
    const chunks: StdoutChunk[] = [];
    let more = false;
    let fd: number | undefined;
    try {
      fd = openSync(this.file, 'r');
      const size = fstatSync(fd).size;
      if (this.lost) this.position = size;
      // The file started over at the output cap: its new content begins at 0.
      else if (size < this.position) this.position = 0;
      this.lost = false;
      for (let budget = MAX_PER_PUMP; budget > 0; ) {
        const buffer = Buffer.alloc(Math.min(MAX_CHUNK, budget));
        const read = readSync(fd, buffer, 0, buffer.length, this.position);
        const atEnd = read < buffer.length;
        // At the very end a split character cannot complete any more: send it as it is.
        const take = final && atEnd ? read : completeUtf8Length(buffer.subarray(0, read));
        if (take > 0) chunks.push({ output: buffer.subarray(0, take).toString('utf8'), position: this.position, finished: false });
        this.position += take;
        budget -= read;
        if (atEnd || take === 0) break;
        more = budget <= 0;
      }
    } catch {
      // The file went away (the app was removed): nothing more to read.
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (final && !more) {
      if (chunks.length === 0) chunks.push({ output: '', position: this.position, finished: true });
      chunks[chunks.length - 1].finished = true;
    }
    for (const chunk of chunks) this.emit(chunk);
    if (more) {
      const generation = this.generation;
      setImmediate(() => {
        if (generation === this.generation) this.pump(final);
      });
    }
  }
}

/** Bytes of `data` that end on a UTF-8 character boundary (an incomplete tail waits). */
export function completeUtf8Length(data: Buffer): number {
  let index = data.length - 1;
  let continuation = 0;
  while (index >= 0 && continuation < 3 && (data[index] & 0xc0) === 0x80) {
    index--;
    continuation++;
  }
  if (index < 0) return data.length;
  const lead = data[index];
  const expected = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return expected > continuation + 1 ? index : data.length;
}
