import type { IncomingMessage } from 'node:http';

/**
 * The abort signal of a request served through fastify's `inject` (the MQTT face), if any.
 * light-my-request aborts the request stream with it only while the body is being read; once the
 * body is in, aborting reaches nothing. A handler that keeps working after that (a relay waiting
 * for its node) watches the signal itself. light-my-request keeps it on the request object.
 */
export function injectedAbortSignal(raw: IncomingMessage): AbortSignal | undefined {
  const injected = (raw as IncomingMessage & { _lightMyRequest?: { signal?: unknown } })._lightMyRequest;
  return injected?.signal instanceof AbortSignal ? injected.signal : undefined;
}
