import type { Principal } from '../../src/auth/principal.js';
import { filterWithin, topicMatches, type Topics } from './topics.js';

const topicIn = (topic: string, filter: string) => topicMatches(filter, topic);

/** Where each user has topics of its own outside the prefix: `users/<name>/...`. */
export const USER_TOPIC_ROOT = 'users';

/** Who a client of the embedded broker is, decided once at CONNECT. */
export type BrokerIdentity =
  | { kind: 'bridge' }
  | { kind: 'anonymous' }
  | {
      kind: 'user';
      principal: Principal;
      /** The JWT presented as password, re-checked at each subscription (revocation, expiry). */
      token?: string;
      /** May act as the bridge of another node on this broker (MQTT.FleetUsers). */
      fleet: boolean;
    };

export type UserIdentity = Extract<BrokerIdentity, { kind: 'user' }>;

/** A publication as the ACL judges it. */
export interface Publication {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/** Questions only the daemon's core can answer. */
export interface AppAccess {
  /** The user still authenticates (a token may have been revoked or have expired). */
  stillValid(identity: UserIdentity): Promise<boolean>;
  /** The user holds `app-subscribe`. */
  maySubscribeEvents(identity: UserIdentity): boolean;
  /** The user holds `app-subscribe` and may read the app now (asked at each delivery). */
  mayReadEvents(identity: UserIdentity, app: string): boolean;
}

type Place =
  | { where: 'outside' }
  /** A wildcard in the prefix levels: would reach into the App Mesh namespace unchecked. */
  | { where: 'overlap' }
  | { where: 'inside'; levels: string[] };

/**
 * Per-topic authorisation of the embedded broker. Under `<prefix>/`:
 *  - requests and tasks: any user may publish (the request's own token is checked by REST);
 *    a `reply_to` must lie in the publisher's own reply space `<prefix>/<node>/reply/<user>`;
 *  - replies: a user reads only `<prefix>/<node or +>/reply/<own name>/...`;
 *  - events: a user holding `app-subscribe` may subscribe to `<prefix>/<this node>/events/...`
 *    (wildcards allowed); each event is then delivered only if the user may read that app at
 *    that moment (so an app created or restricted later is covered too);
 *  - everything of another node (requests included, which carry tokens): fleet users only,
 *    never anything of this node, which only this daemon's own bridge serves.
 * Retained messages under the prefix are refused: requests and tasks are commands, never state
 * (a retained request would be served again at each subscription of a bridge).
 * Outside the prefix, each user has `users/<its name>/...`; the filters of `sharedTopics` (read at
 * each check) are open to every client, anonymous ones included, and nothing else is.
 */
export class BrokerAcl {
  constructor(
    private readonly topics: Topics,
    private readonly access: AppAccess,
    private readonly sharedTopics: () => readonly string[],
  ) {}

  mayPublish(identity: BrokerIdentity, { topic, payload, retain }: Publication): boolean {
    if (identity.kind === 'bridge') return true;
    if (topic.startsWith('$')) return false;
    const place = this.place(topic);
    if (place.where === 'outside') return this.ownsOrShares(identity, topic, topicIn);
    if (place.where === 'overlap' || identity.kind === 'anonymous' || retain) return false;
    const [node, kind, ...rest] = place.levels;
    if (node !== this.topics.node && identity.fleet) return true;
    const isRequest = kind === 'request' && rest.length === 0;
    const isTask = kind === 'task' && rest.length === 1;
    return (isRequest || isTask) && this.replyToIsOwn(identity, node, payload);
  }

  async maySubscribe(identity: BrokerIdentity, filter: string): Promise<boolean> {
    if (identity.kind === 'bridge') return true;
    if (filter.startsWith('$')) return false;
    const place = this.place(filter);
    if (place.where === 'outside') return this.ownsOrShares(identity, filter, filterWithin);
    if (place.where === 'overlap' || identity.kind === 'anonymous') return false;
    if (identity.token && !(await this.access.stillValid(identity))) return false;
    const [node, kind, owner, ...rest] = place.levels;
    if (node === '#') return false;
    if (kind === 'reply' && owner === identity.principal.name) return true;
    if (node !== this.topics.node && node !== '+' && identity.fleet) return true;
    if (node !== this.topics.node || kind !== 'events' || owner === undefined || rest.length > 1) return false;
    return this.access.maySubscribeEvents(identity);
  }

  /**
   * At each delivery: an event goes to a user only if that user may read its app now; a topic
   * outside the prefix only while it is still the client's own or shared.
   */
  mayReceive(identity: BrokerIdentity, topic: string): boolean {
    if (identity.kind === 'bridge') return true;
    if (this.place(topic).where === 'outside') return this.ownsOrShares(identity, topic, topicIn);
    if (identity.kind !== 'user') return true;
    const head = `${this.topics.root}/events/`;
    if (!topic.startsWith(head)) return true;
    const app = topic.slice(head.length).split('/')[0];
    return this.access.mayReadEvents(identity, app);
  }

  private place(topic: string): Place {
    const prefix = this.topics.prefix.split('/');
    const levels = topic.split('/');
    for (let i = 0; i < prefix.length; i++) {
      const level = levels[i];
      if (level === '#' || level === '+') return { where: 'overlap' };
      if (level !== prefix[i]) return { where: 'outside' };
    }
    if (levels.length === prefix.length) return { where: 'outside' };
    return { where: 'inside', levels: levels.slice(prefix.length) };
  }

  /** Outside the prefix: the user's own `users/<name>` space, or a shared filter. */
  private ownsOrShares(identity: Exclude<BrokerIdentity, { kind: 'bridge' }>, topicOrFilter: string, within: (inner: string, outer: string) => boolean): boolean {
    if (identity.kind === 'user' && within(topicOrFilter, `${USER_TOPIC_ROOT}/${identity.principal.name}/#`)) return true;
    return this.sharedTopics().some((shared) => within(topicOrFilter, shared));
  }

  /**
   * Read whatever the payload's size: the broker's packet limit bounds the work, and skipping
   * large payloads would depend on a limit that may change before the bridge reads the message.
   */
  private replyToIsOwn(identity: UserIdentity, node: string, payload: Buffer): boolean {
    let replyTo: unknown;
    try {
      replyTo = (JSON.parse(payload.toString('utf8')) as { reply_to?: unknown } | null)?.reply_to;
    } catch {
      return true; // not JSON: the bridge refuses it, and there is no reply topic to abuse
    }
    if (replyTo === undefined) return true;
    if (typeof replyTo !== 'string') return false;
    const own = `${this.topics.prefix}/${node}/reply/${identity.principal.name}`;
    return replyTo === own || replyTo.startsWith(`${own}/`);
  }
}
