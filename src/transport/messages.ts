import { isUtf8 } from 'node:buffer';
import { decode, encode } from '@msgpack/msgpack';
import { z } from 'zod';
import type { ApiRequest } from './dispatcher.js';
import { requestEnvelope } from './request-envelope.js';

/** A request message (msgpack map) of the TCP and WebSocket transports. */
const requestSchema = requestEnvelope.extend({
  client_addr: z.unknown().optional(),
  body: z.union([z.instanceof(Uint8Array), z.string(), z.null()]).optional(),
});

export type MessageRequest = ApiRequest & { uuid: string };

export type DecodedRequest = { ok: true; request: MessageRequest } | { ok: false; uuid?: string; message: string; garbage: boolean };

/** A frame's request, or why it is not one (`garbage`: not msgpack at all, the connection ends). */
export function decodeRequest(frame: Uint8Array): DecodedRequest {
  let value: unknown;
  try {
    value = decode(frame);
  } catch (error) {
    return { ok: false, garbage: true, message: `not a msgpack message: ${(error as Error).message}` };
  }
  const parsed = requestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    const uuid = typeof value === 'object' && value !== null && typeof (value as { uuid?: unknown }).uuid === 'string' ? (value as { uuid: string }).uuid.slice(0, 128) : undefined;
    return { ok: false, garbage: uuid === undefined, uuid, message: `Invalid request: ${where}${issue?.message ?? 'malformed'}` };
  }
  const { uuid, http_method, request_uri, query, headers, body } = parsed.data;
  const request: MessageRequest = { uuid, http_method, request_uri, query, headers };
  if (body instanceof Uint8Array && body.length > 0) {
    const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    // JSON and text travel as bytes: hand them over as text so REST sees the same body as over HTTP.
    if (isUtf8(bytes)) request.body = bytes.toString('utf8');
    else Object.assign(request, { body: bytes.toString('base64'), body_encoding: 'base64' as const });
  } else if (typeof body === 'string' && body !== '') {
    request.body = body;
  }
  return { ok: true, request };
}

/** A response message (msgpack map). */
export interface ResponseMessage {
  uuid: string;
  request_uri: string;
  http_status: number;
  body_msg_type: string;
  headers: Record<string, string>;
  /** Bytes; the npm client 1.2.0 gets JSON as a map (see tcp-face.ts). */
  body: Uint8Array | unknown;
}

export function encodeResponse(message: ResponseMessage): Uint8Array {
  return encode(message, { ignoreUndefined: true });
}

/** A reply made by the face itself (refused before reaching REST). */
export function errorResponse(uuid: string, requestUri: string, status: number, message: string): ResponseMessage {
  return {
    uuid,
    request_uri: requestUri,
    http_status: status,
    body_msg_type: 'application/json',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: Buffer.from(JSON.stringify({ message })),
  };
}
