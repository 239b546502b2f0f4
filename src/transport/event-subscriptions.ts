import { randomUUID } from 'node:crypto';
import type { AppEvent, AppEventType } from '../supervisor/events.js';
import { badRequest, notFound } from '../service/errors.js';
import type { Principal } from '../auth/principal.js';

/** Canonical order of the subscription API. */
export const EVENT_TYPES: readonly AppEventType[] = ['START', 'EXIT', 'STDOUT', 'HEALTH', 'STATUS', 'REMOVED'];
export const ALL_APPS = '*';
/** Events kept for resuming clients (SSE's Last-Event-ID): the latest this many, all apps together. */
const REPLAY_WINDOW = 1024;

export interface EventSubscription {
  id: string;
  owner: string;
  /** An app name, or `*` for every app. */
  app: string;
  events: AppEventType[];
  /** Where its events go, for faces that deliver per subscription (TCP, WebSocket, SSE); MQTT publishes on shared topics. */
  sink?: EventSink;
  /** Who subscribed: each delivery to a sink is checked against what the user may read now. */
  principal?: Principal;
}

/** Whether a user may still read an event (permissions and app ACL as they are at delivery). */
export type MayRead = (principal: Principal, event: AppEvent) => boolean;

/** A subscription's own copy of an event. */
export type SubscribedEvent = AppEvent & { subscription_id: string };

/** A face's delivery to one connection. False: the delivery failed, and the subscription ends. */
export interface EventSink {
  deliver(event: SubscribedEvent): boolean;
}

/** `events=START,EXIT` → the types in canonical order; empty or absent = all; unknown names ignored. */
export function parseEventTypes(text: string | undefined): AppEventType[] {
  const names = (text ?? '').split(',').map((name) => name.trim().toUpperCase()).filter(Boolean);
  if (names.length === 0 || names.includes('ALL')) return [...EVENT_TYPES];
  const wanted = EVENT_TYPES.filter((type) => names.includes(type));
  if (wanted.length === 0) throw badRequest(`No valid event types in: ${(text ?? '').slice(0, 256)}`);
  return wanted;
}

/**
 * The live event subscriptions (in memory: nothing survives a restart, clients subscribe again).
 * Each user's share is bounded by the core (Limits.MaxSubscriptionsPerUser), asked with `heldBy`.
 */
export class EventSubscriptions {
  private readonly byId = new Map<string, EventSubscription>();
  /** The latest events, oldest first, for clients that resume (SSE's Last-Event-ID). */
  private readonly recent: AppEvent[] = [];
  /** Told when subscriptions come or go (the supervisor then starts or stops reading STDOUT). */
  onChange?: () => void;

  constructor(private readonly mayRead: MayRead = () => true, private readonly replayWindow = REPLAY_WINDOW) {}

  /** Events after `sequence` still in the window that a subscription would have received, in order. */
  replaySince(sequence: number, subscription: Pick<EventSubscription, 'app' | 'events' | 'principal'>): AppEvent[] {
    const { principal } = subscription;
    return this.recent.filter(
      (e) => e.sequence > sequence && (subscription.app === ALL_APPS || e.app_name === subscription.app) && subscription.events.includes(e.event_type) && (!principal || this.mayRead(principal, e)),
    );
  }

  /** How many subscriptions a user holds now. */
  heldBy(owner: string): number {
    let held = 0;
    for (const s of this.byId.values()) if (s.owner === owner) held++;
    return held;
  }

  add(owner: string, app: string, events: AppEventType[], sink?: EventSink, principal?: Principal): EventSubscription {
    const subscription: EventSubscription = { id: randomUUID(), owner, app, events, ...(sink ? { sink } : {}), ...(principal ? { principal } : {}) };
    this.byId.set(subscription.id, subscription);
    this.onChange?.();
    return subscription;
  }

  /** Only the owner may remove a subscription; another user's looks like an unknown one. */
  remove(owner: string, id: string | undefined): void {
    if (!id) throw badRequest('subscription_id is required');
    const subscription = this.byId.get(id);
    if (!subscription || subscription.owner !== owner) throw notFound(`Subscription not found: ${id.slice(0, 128)}`);
    this.byId.delete(id);
    this.onChange?.();
  }

  /** Drops a subscription whatever its owner (rollback of a failed atomic registration). */
  discard(id: string): void {
    if (this.byId.delete(id)) this.onChange?.();
  }

  wants(event: Pick<AppEvent, 'app_name' | 'event_type'>): boolean {
    for (const s of this.byId.values()) {
      if ((s.app === event.app_name || s.app === ALL_APPS) && s.events.includes(event.event_type)) return true;
    }
    return false;
  }

  /** Whether a subscription without a sink of its own (delivered on a shared channel, MQTT topics) wants the event. */
  wantsShared(event: Pick<AppEvent, 'app_name' | 'event_type'>): boolean {
    for (const s of this.byId.values()) {
      if (!s.sink && (s.app === event.app_name || s.app === ALL_APPS) && s.events.includes(event.event_type)) return true;
    }
    return false;
  }

  /** Hands an event to every sink whose subscription matches, in the order events come; a failed delivery ends that subscription. */
  deliver(event: AppEvent): void {
    this.recent.push(event);
    if (this.recent.length > this.replayWindow) this.recent.shift();
    for (const [id, s] of this.byId) {
      if (!s.sink || (s.app !== event.app_name && s.app !== ALL_APPS) || !s.events.includes(event.event_type)) continue;
      // Permissions may have changed since the subscription was made: what the user may not read now is not sent.
      if (s.principal && !this.mayRead(s.principal, event)) continue;
      let delivered = false;
      try {
        delivered = s.sink.deliver({ ...event, subscription_id: id });
      } catch {
        delivered = false;
      }
      if (!delivered) {
        this.byId.delete(id);
        this.onChange?.();
      }
    }
    if (event.event_type === 'REMOVED') this.dropApp(event.app_name);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** How many subscriptions deliver to a sink now. */
  heldBySink(sink: EventSink): number {
    let held = 0;
    for (const s of this.byId.values()) if (s.sink === sink) held++;
    return held;
  }

  /** A connection closed: its subscriptions end with it. */
  dropSink(sink: EventSink): void {
    for (const [id, s] of this.byId) if (s.sink === sink) this.byId.delete(id);
    this.onChange?.();
  }

  /** After an app's REMOVED event its own subscriptions end (those on `*` go on). */
  dropApp(app: string): void {
    for (const [id, s] of this.byId) if (s.app === app) this.byId.delete(id);
    this.onChange?.();
  }
}
