import { z } from 'zod';

const scalar = z.union([z.string(), z.number(), z.boolean()]).transform(String);

/** A request as devices publish it to `<prefix>/<node>/request` (the App Mesh Request fields). */
export const mqttRequestSchema = z.object({
  uuid: z.string().min(1).max(128),
  http_method: z
    .string()
    .transform((s) => s.trim().toUpperCase())
    .pipe(z.string().regex(/^[A-Z]{1,16}$/, 'must be an HTTP method')),
  // A path, never an absolute URL: the request is served by this daemon only.
  request_uri: z.string().max(8192).regex(/^\/(?!\/)/, 'must be a path starting with /'),
  query: z.record(z.string(), z.union([scalar, z.array(scalar)])).optional(),
  headers: z.record(z.string(), scalar).optional(),
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
