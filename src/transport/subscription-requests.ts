import type { Principal } from '../auth/principal.js';
import type { Core } from '../service/core.js';
import { badRequest, ServiceError } from '../service/errors.js';
import { errorReply, jsonReply, type RestReply, type ApiRequest } from './dispatcher.js';
import { ALL_APPS, parseEventTypes, type EventSink, type EventSubscriptions } from './event-subscriptions.js';

/** Runs a request through REST (used by the atomic registration). */
export type Forward = () => Promise<RestReply>;

interface Target {
  method: string;
  path: string;
  param(name: string): string | undefined;
  token?: string;
}

/**
 * The subscription endpoints, which plain HTTP cannot serve (they need a lasting channel) and the
 * persistent faces can: events then go to the connection's sink (TCP, WebSocket), or without a
 * sink to MQTT's `<prefix>/<node>/events/<app>/<EVENT>`.
 *   POST   /appmesh/app/{name}/subscribe?events=…      one app (app-subscribe + read access)
 *   POST   /appmesh/subscribe?events=…                 every app (app-subscribe + app-view-all)
 *   DELETE /appmesh/subscribe?subscription_id=…        (or /appmesh/app/{name}/subscribe)
 *   PUT    /appmesh/app/{name}?subscribe_events=…      register, subscribed before it can start
 * Returns undefined for any other request.
 */
export function subscriptionHandler(request: ApiRequest, core: Core, subscriptions: EventSubscriptions, client: string, forward: Forward, sink?: EventSink): (() => Promise<RestReply>) | undefined {
  const target = parseTarget(request);
  if (!target) return undefined;
  const { method, path } = target;
  const appPath = /^\/appmesh\/app\/([^/]+)\/subscribe$/.exec(path);
  const serve = (operation: () => Promise<RestReply>) => () => guarded(operation, core);

  if (method === 'POST' && appPath) {
    return serve(async () => {
      const principal = await subscriber(core, target, client);
      const name = pathName(appPath[1]);
      const events = parseEventTypes(target.param('events'));
      core.apps.authorizeSubscription(principal, name, false, subscriptions.heldBy(principal.name));
      const subscription = subscriptions.add(principal.name, name, events, sink, principal);
      return jsonReply(200, { subscription_id: subscription.id, app_name: name, events });
    });
  }
  if (method === 'POST' && path === '/appmesh/subscribe') {
    return serve(async () => {
      const principal = await subscriber(core, target, client);
      const events = parseEventTypes(target.param('events'));
      core.apps.authorizeSubscription(principal, undefined, false, subscriptions.heldBy(principal.name));
      const subscription = subscriptions.add(principal.name, ALL_APPS, events, sink, principal);
      return jsonReply(200, { subscription_id: subscription.id, app_name: ALL_APPS, events });
    });
  }
  if (method === 'DELETE' && (appPath || path === '/appmesh/subscribe')) {
    return serve(async () => {
      const principal = await subscriber(core, target, client);
      subscriptions.remove(principal.name, target.param('subscription_id')?.trim());
      return jsonReply(200, { message: 'unsubscribed' });
    });
  }
  const registration = /^\/appmesh\/app\/([^/]+)$/.exec(path);
  const wanted = target.param('subscribe_events');
  if (method === 'PUT' && registration && wanted !== undefined) {
    return serve(async () => {
      const principal = await subscriber(core, target, client);
      const name = pathName(registration[1]);
      core.apps.authorizeSubscription(principal, name, true, subscriptions.heldBy(principal.name));
      const subscription = subscriptions.add(principal.name, name, parseEventTypes(wanted), sink, principal);
      let reply: RestReply;
      try {
        reply = await forward();
      } catch (error) {
        subscriptions.discard(subscription.id);
        throw error;
      }
      if (reply.http_status !== 200 || !isObject(reply.body)) {
        subscriptions.discard(subscription.id);
        return reply;
      }
      return { ...reply, body: { ...reply.body, subscription_id: subscription.id } };
    });
  }
  return undefined;
}

/** The caller; what it may subscribe to is decided by the core (`authorizeSubscription`). */
async function subscriber(core: Core, target: Target, client: string): Promise<Principal> {
  return core.auth.authenticate(target.token, undefined, client);
}

async function guarded(operation: () => Promise<RestReply>, core: Core): Promise<RestReply> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof ServiceError) {
      if (error.emptyBody) return { http_status: error.status, headers: error.headers, body: '' };
      return error.body ? { ...jsonReply(error.status, error.body), headers: { 'content-type': 'application/json; charset=utf-8', ...error.headers } } : errorReply(error.status, error.message, error.headers);
    }
    core.log.error(`Subscription request failed: ${(error as Error)?.stack ?? String(error)}`);
    return errorReply(500, 'Internal server error');
  }
}

function parseTarget(request: ApiRequest): Target | undefined {
  let url: URL;
  try {
    url = new URL(request.request_uri, 'http://face');
  } catch {
    return undefined;
  }
  const path = url.pathname.replace(/\/{2,}/g, '/');
  if (!path.startsWith('/appmesh/') || !/subscribe|^\/appmesh\/app\/[^/]+$/.test(path)) return undefined;
  const header = Object.entries(request.headers ?? {}).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  return {
    method: request.http_method,
    path,
    token: header?.trim().replace(/^Bearer\s+/i, '').trim() || undefined,
    param(name) {
      const given = request.query?.[name];
      if (given !== undefined) return Array.isArray(given) ? given[0] : given;
      return url.searchParams.get(name) ?? undefined;
    },
  };
}

function pathName(segment: string): string {
  try {
    return decodeURIComponent(segment).trim();
  } catch {
    throw badRequest('Invalid percent-encoding in the path');
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
