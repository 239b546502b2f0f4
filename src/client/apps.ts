import { streamEvents } from './events.js';
import type { Session } from './session.js';
import type { AppInput, AppView, OutputChunk, OutputOptions } from './types.js';
import type { BulkRequest } from '../service/app-selection.js';
import type { BulkItem, BulkResult } from '../service/app-service.js';

export type { BulkItem, BulkResult };
/** Which apps a bulk call reaches: names, a label selector (`team=a,!legacy`), or all the caller may see. */
export type AppSelection = Omit<BulkRequest, 'action'>;

const app = (name: string) => `/appmesh/app/${encodeURIComponent(name)}`;

/** Output reads of an app or a run: one page, or every page as it comes. */
export async function readOutput(session: Session, name: string, options: OutputOptions = {}): Promise<OutputChunk> {
  const response = await session.request('GET', `${app(name)}/output`, {
    query: {
      stdout_position: options.position,
      stdout_index: options.index,
      stdout_maxsize: options.maxBytes,
      process_uuid: options.processUuid,
      timeout: options.timeoutSeconds,
    },
    signal: options.signal,
  });
  const position = Number(response.headers.get('x-output-position') ?? options.position ?? 0);
  const exit = response.headers.get('x-exit-code');
  return { text: await response.text(), position: Number.isFinite(position) ? position : 0, exitCode: exit === null ? undefined : Number(exit) };
}

export interface FollowOptions extends OutputOptions {
  /** Stop after the process ends (default true); false keeps following an app across restarts. */
  untilExit?: boolean;
  /** Seconds each long-poll waits when nothing new came (default 1). */
  pollSeconds?: number;
}

/**
 * Output as it is written: yields each new piece, returns the exit code once the process ended
 * and everything was read.
 */
export async function* followOutput(session: Session, name: string, options: FollowOptions = {}): AsyncGenerator<OutputChunk, number | undefined> {
  let position = options.position ?? 0;
  let idle = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const chunk = await readOutput(session, name, { ...options, position, timeoutSeconds: idle ? (options.pollSeconds ?? 1) : 0 });
    const moved = chunk.position !== position || chunk.text.length > 0;
    position = chunk.position;
    if (chunk.text) yield chunk;
    // The daemon sends the exit code only once the reader has reached the end.
    if (chunk.exitCode !== undefined && options.untilExit !== false) return chunk.exitCode;
    idle = !moved;
    // Without a running process the long-poll answers at once: pace the reads.
    if (idle) await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * An app's output as it is written, pushed by the daemon (STDOUT events over Server-Sent Events)
 * instead of polled: what is there already comes first, then each piece as the daemon reads it.
 * Events carry their byte position, so nothing is repeated, and a gap (output written before the
 * stream opened, or events dropped) is read through the output API. A new run starts at 0 again.
 */
export async function* tailOutput(session: Session, name: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<string> {
  const events = streamEvents(session, name, { events: ['START', 'STDOUT'], signal: options.signal });
  // Opened before the output is read, so what is written meanwhile arrives as events.
  let next = events.next();
  next.catch(() => undefined);
  let position = 0;
  const readUpTo = async function* (limit: number) {
    while (position < limit) {
      const chunk = await readOutput(session, name, { position, signal: options.signal });
      if (chunk.text) yield chunk.text;
      if (chunk.position <= position) return;
      position = chunk.position;
    }
  };
  yield* readUpTo(Number.MAX_SAFE_INTEGER);
  for (;;) {
    const { value: event, done } = await next;
    if (done) return;
    next = events.next();
    next.catch(() => undefined);
    if (event.event_type === 'START') {
      position = 0;
      continue;
    }
    const data = event.data as { output?: string; position?: number } | null;
    if (typeof data?.output !== 'string' || typeof data.position !== 'number') continue;
    const bytes = Buffer.from(data.output, 'utf8');
    const end = data.position + bytes.length;
    if (data.position > position) yield* readUpTo(data.position);
    if (end <= position) continue;
    const fresh = bytes.subarray(Math.max(0, position - data.position));
    if (fresh.length) yield fresh.toString('utf8');
    position = end;
  }
}

/** Applications: list, view, register, enable, disable, remove. */
export class AppsApi {
  constructor(private readonly session: Session) {}

  /** `GET /appmesh/applications` (finished runs too with `includeFinishedRuns`). */
  list(options: { includeFinishedRuns?: boolean } = {}): Promise<AppView[]> {
    return this.session.json('GET', '/appmesh/applications', { query: { include_finished_runs: options.includeFinishedRuns ? 'true' : undefined } });
  }

  get(name: string): Promise<AppView> {
    return this.session.json('GET', app(name));
  }

  /** Registers (or replaces) an app; answers its runtime view. */
  add(name: string, definition: AppInput): Promise<AppView> {
    return this.session.json('PUT', app(name), { body: { ...definition, name } });
  }

  remove(name: string): Promise<string> {
    return this.session.message('DELETE', app(name));
  }

  enable(name: string): Promise<string> {
    return this.session.message('POST', `${app(name)}/enable`);
  }

  disable(name: string): Promise<string> {
    return this.session.message('POST', `${app(name)}/disable`);
  }

  /**
   * Enables, disables or deletes many apps in one call. Answers what happened to each (refused
   * ones included); only a malformed selection fails the call.
   */
  bulk(action: BulkRequest['action'], selection: AppSelection): Promise<BulkResult> {
    return this.session.json('POST', '/appmesh/applications/bulk', { body: { ...selection, action } });
  }

  /** True when healthy (needs no permission). */
  async health(name: string): Promise<boolean> {
    const response = await this.session.request('GET', `${app(name)}/health`);
    return (await response.text()).trim() === '0';
  }

  output(name: string, options?: OutputOptions): Promise<OutputChunk> {
    return readOutput(this.session, name, options);
  }

  follow(name: string, options?: FollowOptions): AsyncGenerator<OutputChunk, number | undefined> {
    return followOutput(this.session, name, options);
  }

  /** Output as it is written, pushed by the daemon's events (across restarts, until aborted). */
  tail(name: string, options?: { signal?: AbortSignal }): AsyncGenerator<string> {
    return tailOutput(this.session, name, options);
  }
}
