import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { MqttRequest } from './request-schema.js';

/** The MQTT 5 properties the bridge reads from a message. */
export interface MessageProperties {
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
}

/** MQTT 3.1.1 devices have no user properties: the token travels in a JSON envelope. */
const envelopeSchema = z.object({
  authorization: z.string().min(1),
  payload: z.unknown().optional(),
  payload_encoding: z.literal('base64').optional(),
  timeout: z.union([z.number(), z.string()]).optional(),
  uuid: z.string().min(1).max(128).optional(),
  reply_to: z.string().optional(),
});

export type TaskParse = { ok: true; request: MqttRequest } | { ok: false; message: string; replyTo?: string; uuid?: string };

/**
 * A message on `<prefix>/<node>/task/<app>` as the request `POST /appmesh/app/<app>/task`:
 *  - MQTT 5: the payload is the task as is; user property `authorization` (`Bearer <jwt>`),
 *    optional `timeout` and `uuid` (else the correlation data) user properties;
 *  - MQTT 3.1.1: the payload is `{"authorization", "payload", "payload_encoding"?, "timeout"?,
 *    "uuid"?, "reply_to"?}` and `payload` is the task (a string as is, other JSON as JSON).
 */
export function taskRequest(app: string, payload: Buffer, properties: MessageProperties | undefined): TaskParse {
  const property = (name: string) => {
    const entry = Object.entries(properties?.userProperties ?? {}).find(([key]) => key.toLowerCase() === name);
    return Array.isArray(entry?.[1]) ? entry[1][0] : entry?.[1];
  };
  const uri = `/appmesh/app/${encodeURIComponent(app)}/task`;
  const authorization = property('authorization');
  if (authorization !== undefined) {
    const timeout = property('timeout');
    const uuid = property('uuid') ?? (properties?.correlationData?.length ? properties.correlationData.toString('base64') : randomUUID());
    return { ok: true, request: request(uuid.slice(0, 128), uri, authorization, payload, timeout) };
  }
  let value: unknown;
  try {
    value = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, message: 'Task message without a token: MQTT 5 needs the authorization user property, MQTT 3.1.1 a JSON envelope' };
  }
  const parsed = envelopeSchema.safeParse(value);
  if (!parsed.success) {
    const hints = (value && typeof value === 'object' ? value : {}) as { reply_to?: unknown; uuid?: unknown };
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      message: `Invalid task envelope: ${issue?.path.join('.') || 'payload'}: ${issue?.message ?? 'malformed'}`,
      replyTo: typeof hints.reply_to === 'string' ? hints.reply_to : undefined,
      uuid: typeof hints.uuid === 'string' ? hints.uuid.slice(0, 128) : undefined,
    };
  }
  const envelope = parsed.data;
  let bytes: Buffer;
  if (envelope.payload === undefined) bytes = Buffer.alloc(0);
  else if (envelope.payload_encoding === 'base64' && typeof envelope.payload === 'string') bytes = Buffer.from(envelope.payload, 'base64');
  else bytes = Buffer.from(typeof envelope.payload === 'string' ? envelope.payload : JSON.stringify(envelope.payload));
  const timeout = envelope.timeout === undefined ? undefined : String(envelope.timeout);
  return { ok: true, request: { ...request(envelope.uuid ?? randomUUID(), uri, envelope.authorization, bytes, timeout), reply_to: envelope.reply_to } };
}

function request(uuid: string, uri: string, authorization: string, payload: Buffer, timeout: string | undefined): MqttRequest {
  return {
    uuid,
    http_method: 'POST',
    request_uri: uri,
    query: timeout === undefined ? undefined : { timeout },
    headers: { Authorization: /^(Bearer|Basic)\s/i.test(authorization) ? authorization : `Bearer ${authorization}` },
    body: payload.toString('base64'),
    body_encoding: 'base64',
  };
}
