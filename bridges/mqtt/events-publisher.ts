import type { EventEmitter } from 'node:events';
import type { AppEvent } from '../../src/supervisor/events.js';
import type { EventSubscriptions } from '../../src/transport/event-subscriptions.js';
import type { Topics } from './topics.js';

export type Publish = (topic: string, payload: string) => void;

/**
 * Publishes the supervisor's events to `<prefix>/<node>/events/<app>/<EVENT>` while a live
 * subscription wants them. The topic is shared, so an event goes out once however many
 * subscriptions match; who may read it is the broker's business (see broker-acl.ts).
 */
export class EventsPublisher {
  private readonly listener = (event: AppEvent) => this.onEvent(event);

  constructor(
    private readonly events: EventEmitter,
    private readonly subscriptions: EventSubscriptions,
    private readonly topics: Topics,
    private readonly publish: Publish,
  ) {}

  start(): void {
    this.events.on('event', this.listener);
  }

  stop(): void {
    this.events.off('event', this.listener);
  }

  private onEvent(event: AppEvent): void {
    if (this.subscriptions.wantsShared(event)) this.publish(this.topics.events(event.app_name, event.event_type), JSON.stringify(event));
    if (event.event_type === 'REMOVED') this.subscriptions.dropApp(event.app_name);
  }
}
