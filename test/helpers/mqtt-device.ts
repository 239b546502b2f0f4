import { randomUUID } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface MqttReply {
  uuid: string;
  http_status: number;
  headers: Record<string, string>;
  body: unknown;
  body_encoding?: 'base64';
}

export interface DeviceRequest {
  http_method: string;
  request_uri: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
  body_encoding?: 'base64';
  uuid?: string;
}

/** Connects an MQTT client; rejects when the broker refuses the CONNECT. */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
}

/**
 * A device as the tests drive it: publishes requests to `<prefix>/<node>/request` and collects
 * the replies from its own reply topic (`reply_to` for 3.1.1, the response topic for MQTT 5).
 */
export class Device {
  private readonly waiting = new Map<string, (reply: MqttReply) => void>();
  readonly replies: MqttReply[] = [];
  private readonly subscribed = new Set<string>();

  constructor(readonly client: MqttClient, readonly user: string, readonly prefix = 'appmesh') {
    client.on('message', (topic, payload, packet) => {
      if (!topic.includes('/reply/')) return;
      const reply = JSON.parse(payload.toString('utf8')) as MqttReply;
      this.replies.push(reply);
      // MQTT 5: the correlation data identifies the request.
      const key = packet.properties?.correlationData?.toString('utf8') ?? reply.uuid;
      this.waiting.get(key)?.(reply);
      this.waiting.delete(key);
    });
  }

  static async connect(url: string, user: string, options: IClientOptions = {}): Promise<Device> {
    return new Device(await connectClient(url, options), user);
  }

  replyTopic(node: string): string {
    return `${this.prefix}/${node}/reply/${this.user}/${this.client.options.clientId}`;
  }

  async call(node: string, request: DeviceRequest, token: string | undefined, options: { v5?: boolean; timeoutMs?: number } = {}): Promise<MqttReply> {
    const replyTopic = this.replyTopic(node);
    await this.listen(replyTopic);
    const uuid = request.uuid ?? randomUUID();
    const headers = { ...request.headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) };
    const message = { ...request, uuid, headers, ...(options.v5 ? {} : { reply_to: replyTopic }) };
    const correlation = `corr-${uuid}`;
    const reply = this.wait(options.v5 ? correlation : uuid, options.timeoutMs);
    await this.client.publishAsync(`${this.prefix}/${node}/request`, JSON.stringify(message), {
      qos: 1,
      ...(options.v5 ? { properties: { responseTopic: replyTopic, correlationData: Buffer.from(correlation) } } : {}),
    });
    return reply;
  }

  /** Waits for the reply of a request published by hand. */
  wait(key: string, timeoutMs = 20_000): Promise<MqttReply> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`no MQTT reply for ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(key, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  async listen(topic: string): Promise<void> {
    if (this.subscribed.has(topic)) return;
    const [grant] = await this.client.subscribeAsync(topic, { qos: 1 });
    if (grant.qos === 128) throw new Error(`subscription to ${topic} refused`);
    this.subscribed.add(topic);
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Collects the messages of one topic filter. */
export async function collect(client: MqttClient, filter: string): Promise<Array<{ topic: string; payload: Record<string, unknown> }>> {
  const seen: Array<{ topic: string; payload: Record<string, unknown> }> = [];
  const [grant] = await client.subscribeAsync(filter, { qos: 1 }).catch(() => [{ qos: 128 }]);
  if (grant.qos === 128) throw new Error(`subscription to ${filter} refused`);
  const prefix = filter.replace(/[#+].*$/, '');
  client.on('message', (topic, payload) => {
    if (topic.startsWith(prefix)) seen.push({ topic, payload: JSON.parse(payload.toString('utf8')) as Record<string, unknown> });
  });
  return seen;
}
