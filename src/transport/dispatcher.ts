import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, HTTPMethods } from 'fastify';

/** A request in the App Mesh message shape, whatever face carried it (MQTT, TCP, WebSocket). */
export interface ApiRequest {
  http_method: string;
  /** A path, optionally with a query string. */
  request_uri: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  /** A string is sent as is; any other value as JSON; with body_encoding base64, bytes. */
  body?: unknown;
  body_encoding?: 'base64';
}

/** A reply's HTTP part: what the REST call answered. */
export interface RestReply {
  http_status: number;
  headers: Record<string, string>;
  /** Parsed JSON for JSON responses, text for text, base64 for bytes (then body_encoding says so). */
  body: unknown;
  body_encoding?: 'base64';
}

// Set by the face from the message, or meaningless without a socket.
const DROPPED_REQUEST_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade']);
const DROPPED_RESPONSE_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);

/**
 * Runs a request through the REST pipeline itself (fastify's `inject`): the same routes,
 * authentication, validation, statuses and bodies as HTTP, with no second implementation.
 */
export async function dispatch(rest: FastifyInstance, request: ApiRequest, client: string, signal: AbortSignal): Promise<RestReply> {
  const { status, headers, raw } = await dispatchRaw(rest, request, client, signal);
  return restReply(status, headers, raw);
}

/** A reply as REST made it: status, headers and the body's bytes (for faces that carry bytes). */
export interface RawReply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  raw: Buffer;
}

export async function dispatchRaw(rest: FastifyInstance, request: ApiRequest, client: string, signal: AbortSignal): Promise<RawReply> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers ?? {})) {
    const key = name.toLowerCase();
    if (!DROPPED_REQUEST_HEADERS.has(key)) headers[key] = value;
  }
  const payload = requestPayload(request, headers);
  const response = await rest.inject({
    // Any verb goes through: REST answers 404/405 for those it does not serve.
    method: request.http_method as HTTPMethods,
    url: request.request_uri,
    query: request.query,
    headers,
    payload,
    remoteAddress: client,
    signal,
  });
  return { status: response.statusCode, headers: response.headers, raw: response.rawPayload };
}

function requestPayload(request: ApiRequest, headers: Record<string, string>): string | Buffer | undefined {
  const { body } = request;
  if (body === undefined) return undefined;
  if (request.body_encoding === 'base64') {
    headers['content-type'] ??= 'application/octet-stream';
    return Buffer.from(body as string, 'base64');
  }
  if (typeof body === 'string') {
    // The SDKs' binary protocol carries JSON bodies as text: keep that working without a header.
    headers['content-type'] ??= looksLikeJson(body) ? 'application/json' : 'text/plain; charset=utf-8';
    return body;
  }
  headers['content-type'] ??= 'application/json';
  return JSON.stringify(body);
}

function looksLikeJson(text: string): boolean {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The headers of a reply worth carrying on a message (lower-case names, one string each). */
export function replyHeaders(rawHeaders: Record<string, string | string[] | number | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(rawHeaders)) {
    const key = name.toLowerCase();
    if (value === undefined || DROPPED_RESPONSE_HEADERS.has(key) || key.startsWith('access-control-')) continue;
    headers[key] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return headers;
}

export function restReply(status: number, rawHeaders: Record<string, string | string[] | number | undefined>, raw: Buffer): RestReply {
  const headers = replyHeaders(rawHeaders);
  const type = headers['content-type'] ?? '';
  if (/^application\/octet-stream/i.test(type) || !isUtf8(raw)) {
    return { http_status: status, headers, body: raw.toString('base64'), body_encoding: 'base64' };
  }
  const text = raw.toString('utf8');
  if (/^application\/(?:[\w.-]+\+)?json/i.test(type) && text !== '') {
    try {
      return { http_status: status, headers, body: JSON.parse(text) as unknown };
    } catch {
      // Announced as JSON but is not: hand over the text unchanged.
    }
  }
  return { http_status: status, headers, body: text };
}

/** A reply a face makes itself (refused or failed before reaching REST), shaped like REST's. */
export function errorReply(status: number, message: string, extraHeaders: Record<string, string> = {}): RestReply {
  return { http_status: status, headers: { 'content-type': 'application/json; charset=utf-8', ...extraHeaders }, body: { message } };
}

export function jsonReply(status: number, body: unknown): RestReply {
  return { http_status: status, headers: { 'content-type': 'application/json; charset=utf-8' }, body };
}
