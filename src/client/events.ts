import type { Session } from './session.js';
import type { AppEvent, AppEventType } from '../supervisor/events.js';

export type { AppEvent, AppEventType };

export interface EventOptions {
  /** Only these types (default all). */
  events?: readonly AppEventType[];
  /** Replay what followed this sequence number (from the daemon's window of recent events). */
  lastEventId?: number;
  signal?: AbortSignal;
}

/**
 * Server-Sent Events of one app (`name`) or of every app the caller may see: yields each event
 * as it comes, until the signal is aborted or the daemon closes the stream.
 */
export async function* streamEvents(session: Session, name: string | undefined, options: EventOptions = {}): AsyncGenerator<AppEvent & { subscription_id?: string }> {
  const path = name === undefined ? '/appmesh/events' : `/appmesh/app/${encodeURIComponent(name)}/events`;
  const response = await session.request('GET', path, {
    query: { events: options.events?.join(',') },
    headers: { Accept: 'text/event-stream', 'Last-Event-ID': options.lastEventId?.toString() },
    signal: options.signal,
  });
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffered += decoder.decode(chunk, { stream: true });
      for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
        const message = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        // Comment lines (`: keep-alive`) carry nothing; `data:` lines carry the event as JSON.
        const data = message
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (data) yield JSON.parse(data) as AppEvent & { subscription_id?: string };
      }
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  }
}
