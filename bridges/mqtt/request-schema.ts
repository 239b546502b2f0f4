import { z } from 'zod';
import { requestEnvelope } from '../../src/transport/request-envelope.js';

/** A request as devices publish it to `<prefix>/<node>/request` (the App Mesh Request fields). */
export const mqttRequestSchema = requestEnvelope.extend({
  /** A string is sent as is; any other JSON value as JSON; with body_encoding base64, bytes. */
  body: z.unknown().optional(),
  body_encoding: z.literal('base64').optional(),
  /** MQTT 3.1.1 clients: where the reply goes (MQTT 5 clients use the response topic). */
  reply_to: z.string().optional(),
});

export type MqttRequest = z.infer<typeof mqttRequestSchema>;

export type RequestParse = { ok: true; request: MqttRequest } | { ok: false; message: string };

export function parseRequest(value: unknown): RequestParse {
  const result = mqttRequestSchema.safeParse(value);
  if (result.success) {
    if (result.data.body_encoding === 'base64' && typeof result.data.body !== 'string') {
      return { ok: false, message: 'Invalid request: body must be a base64 string when body_encoding is base64' };
    }
    return { ok: true, request: result.data };
  }
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return { ok: false, message: `Invalid request: ${where}${issue?.message ?? 'malformed'}` };
}

/** JSON of a payload, or undefined when it is not JSON. */
export function decodeJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** What an invalid request still tells about where to answer. */
export function replyHints(value: unknown): { uuid?: string; replyTo?: string } {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const { uuid, reply_to: replyTo } = value as Record<string, unknown>;
  return {
    uuid: typeof uuid === 'string' ? uuid.slice(0, 128) : undefined,
    replyTo: typeof replyTo === 'string' ? replyTo : undefined,
  };
}
