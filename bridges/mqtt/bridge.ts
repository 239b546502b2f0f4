import type { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import './packet-numbers.js';
import type { Core } from '../../src/service/core.js';
import type { Logger } from '../../src/util/log.js';
import { dispatch, errorReply, type RestReply } from '../../src/transport/dispatcher.js';
import type { EventSubscriptions } from '../../src/transport/event-subscriptions.js';
import { EventsPublisher } from './events-publisher.js';
import type { ParityIntake } from './parity-intake.js';
import { decodeJson, parseRequest, replyHints, type MqttRequest } from './request-schema.js';
import { SeenRequests } from './seen-requests.js';
import { subscriptionHandler } from '../../src/transport/subscription-requests.js';
import { taskRequest, type MessageProperties } from './task-intake.js';
import { topicMatches, type Topics } from './topics.js';

export interface BridgeLimits {
  maxPayloadBytes: number;
  maxQueuedRequests: number;
  requestTimeoutSeconds: number;
}

export interface BridgeOptions {
  brokerUrl: string;
  protocolVersion: 4 | 5;
  clientId: string;
  username?: string;
  password?: Buffer | string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** Keep the broker session (subscriptions, queued requests) across reconnects. */
  persistentSession: boolean;
  topics: Topics;
  limits: () => BridgeLimits;
  rest: FastifyInstance;
  core: Core;
  /** The supervisor's event emitter ('event'). */
  events: EventEmitter;
  /** Where the bridge says whose STDOUT events its subscribers want produced. */
  stdoutInterest: Set<(appName: string) => boolean>;
  /** The core's one subscription registry (shared with the other faces). */
  subscriptions: EventSubscriptions;
  parity?: ParityIntake;
  /** The network address of the device that published a message, when the broker can tell (the embedded one). */
  publisherAddress?: (topic: string, payload: Buffer) => string | undefined;
  log: Logger;
  /** How long start() waits for the first connection before going on in the background. */
  connectWaitMs: number;
}

interface ReplyRoute {
  topic: string;
  correlationData?: Buffer;
}

const MIN_RECONNECT_MS = 1000;
const MAX_RECONNECT_MS = 30_000;
// The client address REST sees (audit log, login throttle) for a request whose device's own
// address is unknown (an external broker does not tell).
const UNKNOWN_DEVICE_ADDRESS = 'mqtt';

/**
 * The MQTT face: takes requests from `<prefix>/<node>/request` (and tasks from
 * `<prefix>/<node>/task/<app>`), serves them through the REST pipeline, publishes the replies
 * (QoS 1) and the subscribed events. Bounded: payload size, requests served at once, time.
 */
export class MqttBridge {
  private readonly seen = new SeenRequests();
  private readonly publisher: EventsPublisher;
  private inFlight = 0;
  private closing = false;
  private readonly wantsStdout = (appName: string) => this.subscriptions.wants({ app_name: appName, event_type: 'STDOUT' });

  private readonly subscriptions: EventSubscriptions;

  private constructor(private readonly client: MqttClient, private readonly options: BridgeOptions) {
    this.subscriptions = options.subscriptions;
    this.publisher = new EventsPublisher(options.events, this.subscriptions, options.topics, (topic, payload) => this.publish(topic, payload));
    options.stdoutInterest.add(this.wantsStdout);
  }

  static async start(options: BridgeOptions): Promise<MqttBridge> {
    const clientOptions: IClientOptions = {
      clientId: options.clientId,
      protocolVersion: options.protocolVersion,
      clean: !options.persistentSession,
      username: options.username,
      password: options.password,
      reconnectPeriod: MIN_RECONNECT_MS,
      connectTimeout: 10_000,
      ...(options.persistentSession && options.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      ...options.tls,
    };
    const client = mqtt.connect(options.brokerUrl, clientOptions);
    const bridge = new MqttBridge(client, options);
    bridge.wire();
    bridge.publisher.start();
    const connected = await Promise.race([
      new Promise<boolean>((resolve) => client.once('connect', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), options.connectWaitMs).unref()),
    ]);
    if (connected) await bridge.subscribeTopics();
    else client.once('connect', () => void bridge.subscribeTopics());
    if (!connected) options.log.warn(`MQTT broker ${redact(options.brokerUrl)} not reachable yet; the bridge keeps trying in the background`);
    return bridge;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.publisher.stop();
    this.options.stdoutInterest.delete(this.wantsStdout);
    // Give queued replies a moment to leave, then cut.
    const ended = await Promise.race([this.client.endAsync(false).then(() => true), delay(2000).then(() => false)]);
    if (!ended) await this.client.endAsync(true);
  }

  private wire(): void {
    const { client, options } = this;
    let backoff = MIN_RECONNECT_MS;
    let announcedDown = false;
    // mqtt.js subscribes again by itself after a reconnect that lost the session.
    client.on('connect', () => {
      noDelay(client);
      backoff = MIN_RECONNECT_MS;
      client.options.reconnectPeriod = backoff;
      if (announcedDown) options.log.info(`MQTT bridge reconnected to ${redact(options.brokerUrl)}`);
      announcedDown = false;
    });
    // Back-off between attempts: 1 s doubling to 30 s (read by mqtt.js when it arms the next try).
    client.on('reconnect', () => {
      backoff = Math.min(MAX_RECONNECT_MS, backoff * 2);
      client.options.reconnectPeriod = backoff;
    });
    client.on('offline', () => {
      if (this.closing || announcedDown) return;
      announcedDown = true;
      options.log.warn(`MQTT bridge lost the broker ${redact(options.brokerUrl)}; replies are queued until it is back`);
    });
    client.on('error', (error) => {
      if (!this.closing) options.log.warn(`MQTT bridge: ${error.message}`);
    });
    client.on('message', (topic, payload, packet) => {
      void this.onMessage(topic, payload, packet).catch((error: Error) => options.log.error(`MQTT bridge: handling a message on ${topic} failed: ${error.stack ?? error.message}`));
    });
  }

  private async subscribeTopics(): Promise<void> {
    const { topics, parity, log } = this.options;
    const filters = [topics.request, topics.taskFilter, ...(parity?.topics ?? [])];
    try {
      const granted = await this.client.subscribeAsync(filters, { qos: 1 });
      for (const grant of granted) if (grant.qos === 128) log.error(`MQTT broker refused the bridge's subscription to ${grant.topic}`);
      log.info(`MQTT bridge on ${redact(this.options.brokerUrl)}: requests on ${topics.request}`);
    } catch (error) {
      log.error(`MQTT bridge could not subscribe: ${(error as Error).message}`);
    }
  }

  private async onMessage(topic: string, payload: Buffer, packet: IPublishPacket): Promise<void> {
    const properties = packet.properties as MessageProperties | undefined;
    const { topics, parity, log } = this.options;
    const limits = this.options.limits();
    const client = this.options.publisherAddress?.(topic, payload) ?? UNKNOWN_DEVICE_ADDRESS;
    const oversized = payload.length > limits.maxPayloadBytes;
    const v5Route = properties?.responseTopic ? this.route(properties) : undefined;
    if (oversized) {
      const message = `Payload of ${payload.length} bytes exceeds MQTT.MaxPayloadBytes (${limits.maxPayloadBytes})`;
      log.warn(`MQTT bridge: dropped a message on ${topic}: ${message}`);
      if (v5Route && v5Route !== 'refused') this.reply(v5Route, undefined, errorReply(413, message));
      return;
    }

    if (topic === topics.request) {
      const value = decodeJson(payload);
      if (value === undefined) return this.refuse(topic, 'payload is not JSON', v5Route);
      const hints = replyHints(value);
      const route = v5Route ?? this.route({ responseTopic: hints.replyTo });
      if (route === 'refused') return;
      const parsed = parseRequest(value);
      if (!parsed.ok) return this.refuse(topic, parsed.message, route, hints.uuid);
      await this.serve(parsed.request, route, client);
      return;
    }

    const app = topics.taskApp(topic);
    if (app !== undefined) {
      const parsed = taskRequest(app, payload, properties);
      const route = v5Route ?? this.route({ responseTopic: parsed.ok ? parsed.request.reply_to : parsed.replyTo });
      if (route === 'refused') return;
      if (!parsed.ok) return this.refuse(topic, parsed.message, route, parsed.uuid);
      await this.serve(parsed.request, route, client);
      return;
    }

    if (parity && parity.topics.some((filter) => topicMatches(filter, topic))) {
      if (v5Route === 'refused') return;
      const request = await parity.request(payload, properties?.correlationData?.toString('base64'));
      if (!request) return;
      const reply = await this.serve(request, v5Route, client);
      if (reply?.http_status === 401) parity.forgetToken();
      if (reply && reply.http_status !== 200) log.warn(`MQTT telemetry from ${topic}: task to ${request.request_uri} answered ${reply.http_status}`);
    }
  }

  /** Where a reply goes; 'refused' for a topic outside this node's reply space (logged). */
  private route(properties: { responseTopic?: string; correlationData?: Buffer }): ReplyRoute | 'refused' | undefined {
    const topic = properties.responseTopic;
    if (topic === undefined) return undefined;
    if (!this.options.topics.isReplyTopic(topic)) {
      this.options.log.warn(`MQTT bridge: dropped a request whose reply topic '${topic.slice(0, 256)}' is outside ${this.options.topics.replyRoot}`);
      return 'refused';
    }
    return { topic, correlationData: properties.correlationData };
  }

  private refuse(topic: string, message: string, route: ReplyRoute | 'refused' | undefined, uuid?: string): void {
    this.options.log.warn(`MQTT bridge: refused a message on ${topic}: ${message}`);
    if (route && route !== 'refused') this.reply(route, uuid, errorReply(400, message));
  }

  /** Executes a request once and answers it; returns the reply (undefined for a duplicate). */
  private async serve(request: MqttRequest, route: ReplyRoute | undefined, client: string): Promise<RestReply | undefined> {
    const { limits, log } = this.options;
    const { maxQueuedRequests, requestTimeoutSeconds } = limits();
    if (!this.seen.firstTime(`${route?.topic ?? ''}\0${request.uuid}`)) {
      log.debug(`MQTT bridge: request ${request.uuid} delivered again, already executed`);
      return undefined;
    }
    if (this.inFlight >= maxQueuedRequests) {
      const reply = errorReply(503, `Too many MQTT requests in progress (${maxQueuedRequests}); retry later`, { 'retry-after': '1' });
      this.reply(route, request.uuid, reply);
      return reply;
    }
    this.inFlight++;
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<RestReply>((resolve) => {
      timer = setTimeout(() => {
        abort.abort();
        resolve(errorReply(504, `Request timed out after ${requestTimeoutSeconds} s`));
      }, requestTimeoutSeconds * 1000);
    });
    // REST cannot be interrupted from outside: the slot stays taken until the work really ends.
    const work = this.execute(request, abort.signal, client).finally(() => {
      this.inFlight--;
    });
    let reply: RestReply;
    try {
      reply = await Promise.race([work, timeout]);
    } catch (error) {
      log.error(`MQTT bridge: ${request.http_method} ${request.request_uri.split('?')[0]} failed: ${(error as Error).message}`);
      reply = errorReply(500, 'Internal server error');
    } finally {
      clearTimeout(timer);
    }
    this.reply(route, request.uuid, reply);
    return reply;
  }

  private async execute(request: MqttRequest, signal: AbortSignal, client: string): Promise<RestReply> {
    const { rest, core } = this.options;
    const forward = () => dispatch(rest, request, client, signal);
    const handler = subscriptionHandler(request, core, this.subscriptions, client, forward);
    return handler ? handler() : forward();
  }

  private reply(route: ReplyRoute | undefined, uuid: string | undefined, reply: RestReply): void {
    if (!route) return;
    const payload = JSON.stringify({ uuid: uuid ?? '', ...reply });
    const v5 = this.options.protocolVersion === 5;
    this.client.publish(route.topic, payload, {
      qos: 1,
      ...(v5 ? { properties: { contentType: 'application/json', ...(route.correlationData ? { correlationData: route.correlationData } : {}) } } : {}),
    });
  }

  /** Events are not queued while the broker is away (replies are): nothing would bound them. */
  private publish(topic: string, payload: string): void {
    if (this.client.connected) this.client.publish(topic, payload, { qos: 1 });
  }
}

/** Replies are small packets: do not let Nagle's algorithm hold them back (TCP and TLS). */
export function noDelay(client: MqttClient): void {
  (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true);
}

/** Broker URLs may carry credentials: never log them. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
