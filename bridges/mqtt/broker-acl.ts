import type { Principal } from '../../src/auth/principal.js';
import type { Topics } from './topics.js';

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
 * Topics outside the prefix are an ordinary broker space for authenticated clients.
 */
export class BrokerAcl {
  constructor(
    private readonly topics: Topics,
    private readonly access: AppAccess,
    private readonly maxPayloadBytes: number,
  ) {}

  mayPublish(identity: BrokerIdentity, topic: string, payload: Buffer): boolean {
    if (identity.kind === 'bridge') return true;
    if (topic.startsWith('$')) return false;
    const place = this.place(topic);
    if (place.where === 'outside') return true;
    if (place.where === 'overlap' || identity.kind === 'anonymous') return false;
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
    if (place.where === 'outside') return true;
    if (place.where === 'overlap' || identity.kind === 'anonymous') return false;
    if (identity.token && !(await this.access.stillValid(identity))) return false;
    const [node, kind, owner, ...rest] = place.levels;
    if (node === '#') return false;
    if (kind === 'reply' && owner === identity.principal.name) return true;
    if (node !== this.topics.node && node !== '+' && identity.fleet) return true;
    if (node !== this.topics.node || kind !== 'events' || owner === undefined || rest.length > 1) return false;
    return this.access.maySubscribeEvents(identity);
  }

  /** At each delivery: an event goes to a user only if that user may read its app now. */
  mayReceive(identity: BrokerIdentity, topic: string): boolean {
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

  private replyToIsOwn(identity: UserIdentity, node: string, payload: Buffer): boolean {
    if (payload.length > this.maxPayloadBytes) return true; // the bridge drops it unread
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
