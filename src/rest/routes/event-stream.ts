import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Core } from '../../service/core.js';
import { ALL_APPS, parseEventTypes, type EventSink, type EventSubscriptions } from '../../transport/event-subscriptions.js';
import type { AppEvent } from '../../supervisor/events.js';

// A comment line now and then keeps proxies and browsers from closing a quiet stream.
const KEEPALIVE_MS = 25_000;

/**
 * Server-Sent Events for browsers and simple clients: the same subscriptions as TCP and
 * WebSocket (same permissions and per-user cap), one event per message with `id` = its sequence;
 * `Last-Event-ID` replays what followed from the registry's window.
 *   GET /appmesh/app/{name}/events?events=…   one app (app-subscribe + read access)
 *   GET /appmesh/events?events=…              every app (app-subscribe + app-view-all)
 */
export function registerEventStreamRoutes(app: FastifyInstance, core: Core, subscriptions: EventSubscriptions): void {
  const open = async (request: FastifyRequest, reply: FastifyReply, name: string | undefined) => {
    const principal = await request.principal();
    const events = parseEventTypes((request.query as Record<string, string | undefined>).events);
    core.apps.authorizeSubscription(principal, name, false, subscriptions.heldBy(principal.name));
    const lastSeen = Number((request.headers['last-event-id'] as string | undefined) ?? NaN);

    reply.hijack();
    const out = reply.raw;
    out.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    const write = (event: AppEvent, id: string): boolean => {
      if (out.destroyed) return false;
      const limit = core.config().Limits.MaxUnreadEventBytes;
      if (out.writableLength > limit) {
        core.log.warn(`event stream of ${principal.name} from ${request.ip} closed: slow consumer: more than ${limit} bytes of events unread`);
        out.destroy();
        return false;
      }
      out.write(`id: ${event.sequence}\nevent: ${event.event_type}\ndata: ${JSON.stringify({ ...event, subscription_id: id })}\n\n`);
      return true;
    };
    const sink: EventSink = { deliver: (event) => write(event, event.subscription_id) };
    const subscription = subscriptions.add(principal.name, name ?? ALL_APPS, events, sink, principal);
    out.write(`: subscription ${subscription.id}\n\n`);
    if (Number.isSafeInteger(lastSeen)) for (const event of subscriptions.replaySince(lastSeen, subscription)) write(event, subscription.id);
    const keepalive = setInterval(() => out.write(': keep-alive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    out.on('close', () => {
      clearInterval(keepalive);
      subscriptions.dropSink(sink);
    });
  };
  app.get('/appmesh/app/:name/events', (request, reply) => open(request, reply, (request.params as { name: string }).name));
  app.get('/appmesh/events', (request, reply) => open(request, reply, undefined));
}
