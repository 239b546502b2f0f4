/**
 * The topic layout of one node. Everything App Mesh lives under `<prefix>/<node>/`:
 *   request                  requests (JSON), subscribed by the node's bridge only
 *   reply/<user>/...         replies, readable by <user> only (on the embedded broker)
 *   events/<app>/<EVENT>     events of an app while a subscription on it lives
 *   task/<app>               telemetry intake: the payload becomes a task of <app>
 */
export class Topics {
  readonly root: string;
  readonly request: string;
  readonly replyRoot: string;
  readonly taskFilter: string;

  constructor(readonly prefix: string, readonly node: string) {
    this.root = `${prefix}/${node}`;
    this.request = `${this.root}/request`;
    this.replyRoot = `${this.root}/reply/`;
    this.taskFilter = `${this.root}/task/+`;
  }

  events(app: string, eventType: string): string {
    return `${this.root}/events/${app}/${eventType}`;
  }

  /** The app of a `<prefix>/<node>/task/<app>` topic, or undefined. */
  taskApp(topic: string): string | undefined {
    const head = `${this.root}/task/`;
    if (!topic.startsWith(head)) return undefined;
    const app = topic.slice(head.length);
    return app && !app.includes('/') ? app : undefined;
  }

  /**
   * Replies go only under this node's reply root, never to a request, task or event topic, so a
   * crafted `reply_to` cannot make the bridge feed itself or forge events.
   */
  isReplyTopic(topic: string): boolean {
    return topic.length <= MAX_TOPIC_LENGTH && topic.startsWith(this.replyRoot) && topic.length > this.replyRoot.length && !/[+#\0]/.test(topic);
  }
}

const MAX_TOPIC_LENGTH = 1024;

/** A topic level must not be empty nor hold a separator or wildcard. */
export function isTopicLevel(value: string): boolean {
  return value.length > 0 && !/[/+#\0]/.test(value);
}

/** A prefix is one or more topic levels without wildcards. */
export function isTopicPrefix(value: string): boolean {
  return value.length > 0 && !value.startsWith('$') && value.split('/').every(isTopicLevel);
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return !(i === 0 && topic.startsWith('$'));
    if (i >= t.length) return false;
    if (f[i] === '+') {
      if (i === 0 && topic.startsWith('$')) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Every topic `filter` matches is matched by `pattern` too (both may hold wildcards). */
export function filterWithin(filter: string, pattern: string): boolean {
  const f = filter.split('/');
  const p = pattern.split('/');
  for (let i = 0; i < f.length; i++) {
    if (p[i] === '#') return true;
    if (i >= p.length || f[i] === '#') return false;
    if (p[i] === '+') continue;
    if (f[i] === '+' || f[i] !== p[i]) return false;
  }
  // `a/#` also matches its parent `a`.
  return p.length === f.length || (p.length === f.length + 1 && p[f.length] === '#');
}
