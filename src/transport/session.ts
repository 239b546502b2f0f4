import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Core } from '../service/core.js';
import { dispatchRaw, replyHeaders, restReply, type RestReply } from './dispatcher.js';
import type { EventSink, EventSubscriptions, SubscribedEvent } from './event-subscriptions.js';
import { decodeRequest, encodeResponse, errorResponse, type MessageRequest, type ResponseMessage } from './messages.js';
import { subscriptionHandler } from './subscription-requests.js';
import { caller, FILE_FRAME_BYTES, filePath, headerOf, transferKind, UploadBody, type FileFrames } from './file-transfer.js';
import { ServiceError } from '../service/errors.js';
import type { Principal } from '../auth/principal.js';

/** What the core gives every persistent face. */
export interface FaceContext {
  core: Core;
  rest: FastifyInstance;
  subscriptions: EventSubscriptions;
}

/** A face's side of one connection: it frames and moves bytes, the session decides. */
export interface ConnectionLink {
  send(message: Uint8Array): void;
  /** Bytes written but not yet taken by the peer. */
  queuedBytes(): number;
  /** Ends the connection; the reason is logged. */
  close(reason: string): void;
  /** The npm client 1.2.0 reads JSON replies as a msgpack map; current clients get bytes. */
  jsonAsMap(): boolean;
  /** Raw data frames for file transfer (TCP); absent: the face has none. */
  frames?: FileFrames;
  /** A short token for the file routes of the face's HTTP side (WebSocket), issued to the caller. */
  fileToken?: (principal: Principal) => Promise<string>;
}

export interface SessionLimits {
  /** Requests of one connection being served at once; beyond, 429 without serving. */
  maxInFlight: number;
  /** Events written but unread by a subscriber; beyond, the connection is closed (a stalled reader never grows memory). */
  maxQueuedBytes: number;
  /** Requests refused for want of a token before the connection is closed. */
  maxUnauthenticated: number;
}

export const EVENT_URI = '/appmesh/event';
const MAX_HELD_EVENTS = 1024;
const LOGIN_PATHS = new Set(['/appmesh/login', '/appmesh/auth']);

/**
 * One persistent connection (TCP or WebSocket): its requests go through the REST pipeline
 * (same routes, ACL, quotas and audit), its subscriptions into the core's registry with the
 * connection as their sink. Bounded: requests in flight, unread events, requests without a token.
 */
export class ApiSession implements EventSink {
  private inFlight = 0;
  private refusedUnauthenticated = 0;
  private authenticated = false;
  private closed = false;
  /** One per request in flight: a signal shared by all would collect a listener per request served. */
  private readonly aborts = new Set<AbortController>();
  /** Subscriptions whose id the peer has been told (events of the others wait, see deliver). */
  private readonly announced = new Set<string>();
  private readonly held = new Map<string, SubscribedEvent[]>();
  private heldCount = 0;
  /** While a file transfer runs the connection carries only its frames: messages wait here. */
  private gate: Uint8Array[] | undefined;
  /** An upload in progress takes the peer's frames. */
  private upload: UploadBody | undefined;

  constructor(
    private readonly context: FaceContext,
    private readonly link: ConnectionLink,
    private readonly client: string,
    private readonly limits: () => SessionLimits,
  ) {}

  /** Whether the connection has anything going on (requests or subscriptions): an idle timer spares it. */
  get busy(): boolean {
    return this.inFlight > 0 || this.context.subscriptions.heldBySink(this) > 0;
  }

  get loggedIn(): boolean {
    return this.authenticated;
  }

  /** One frame from the peer: a message, or a file transfer's data (a zero-length frame ends it). */
  onFrame(frame: Buffer): void {
    if (this.closed) return;
    if (this.upload) return this.upload.feed(frame);
    if (frame.length > 0) this.onMessage(frame);
  }

  /** One message from the peer. */
  onMessage(frame: Uint8Array): void {
    if (this.closed) return;
    const decoded = decodeRequest(frame);
    if (!decoded.ok) {
      if (decoded.garbage) return this.link.close(decoded.message);
      return this.reply(errorResponse(decoded.uuid ?? '', '', 400, decoded.message));
    }
    const { request } = decoded;
    const path = request.request_uri.split('?')[0]!;
    const hasToken = Object.keys(request.headers ?? {}).some((name) => name.toLowerCase() === 'authorization');
    if (!this.authenticated && !hasToken && !LOGIN_PATHS.has(path)) {
      if (++this.refusedUnauthenticated > this.limits().maxUnauthenticated) return this.link.close('requests without authentication');
      return this.reply(errorResponse(request.uuid, path, 401, 'Authentication required: log in, or send a token in headers.Authorization'));
    }
    if (this.inFlight >= this.limits().maxInFlight) {
      return this.reply(errorResponse(request.uuid, path, 429, `Too many requests in flight on this connection (at most ${this.limits().maxInFlight})`));
    }
    this.inFlight++;
    const kind = this.link.frames || this.link.fileToken ? transferKind(request) : undefined;
    const served = kind && this.link.fileToken ? this.fileTokenReply(request, path) : kind === 'download' ? this.download(request, path) : kind === 'upload' ? this.receive(request, path) : this.serve(request, path, hasToken);
    void served.finally(() => this.inFlight--);
  }

  /** The connection is gone: its subscriptions end, its requests are abandoned. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.context.subscriptions.dropSink(this);
    for (const controller of this.aborts) controller.abort();
  }

  deliver(event: SubscribedEvent): boolean {
    if (this.closed) return false;
    // An atomic registration may start the app before its reply is written: the event waits for
    // the reply, as clients (the npm one among them) only know the subscription from it.
    if (!this.announced.has(event.subscription_id)) {
      if (++this.heldCount > MAX_HELD_EVENTS) {
        this.link.close(`slow consumer: more than ${MAX_HELD_EVENTS} events before a subscription's reply`);
        return false;
      }
      this.held.set(event.subscription_id, [...(this.held.get(event.subscription_id) ?? []), event]);
      return true;
    }
    return this.push(event);
  }

  private push(event: SubscribedEvent): boolean {
    const { maxQueuedBytes } = this.limits();
    if (this.link.queuedBytes() > maxQueuedBytes) {
      this.link.close(`slow consumer: more than ${maxQueuedBytes} bytes of events unread`);
      return false;
    }
    this.write(
      encodeResponse({
        uuid: randomUUID(),
        request_uri: EVENT_URI,
        http_status: 200,
        body_msg_type: 'application/json',
        headers: { 'X-Subscription-Id': event.subscription_id, 'X-Event-Type': event.event_type, 'X-App-Name': event.app_name },
        body: Buffer.from(JSON.stringify(event)),
      }),
    );
    return true;
  }

  private async serve(request: MessageRequest, path: string, hasToken: boolean): Promise<void> {
    const controller = new AbortController();
    this.aborts.add(controller);
    try {
      await this.serveWith(request, path, hasToken, controller.signal);
    } finally {
      this.aborts.delete(controller);
    }
  }

  private async serveWith(request: MessageRequest, path: string, hasToken: boolean, signal: AbortSignal): Promise<void> {
    const { core, rest, subscriptions } = this.context;
    const forward = async (): Promise<RestReply> => {
      const { status, headers, raw } = await dispatchRaw(rest, request, this.client, signal);
      return restReply(status, headers, raw);
    };
    let reply: RestReply;
    try {
      const special = subscriptionHandler(request, core, subscriptions, this.client, forward, this);
      if (!special) {
        // The common case: REST's bytes go out as they are, never parsed and encoded again.
        const { status, headers, raw } = await dispatchRaw(rest, request, this.client, signal);
        if (this.closed) return;
        if (status !== 401 && (hasToken || (LOGIN_PATHS.has(path) && status === 200))) this.authenticated = true;
        return this.reply(this.message(request.uuid, path, status, replyHeaders(headers), raw));
      }
      reply = await special();
    } catch (error) {
      if (this.closed) return;
      core.log.error(`request on a persistent connection failed: ${(error as Error)?.stack ?? String(error)}`);
      reply = { http_status: 500, headers: { 'content-type': 'application/json' }, body: { message: 'Internal server error' } };
    }
    if (this.closed) return;
    if (reply.http_status !== 401 && (hasToken || (LOGIN_PATHS.has(path) && reply.http_status === 200))) this.authenticated = true;
    const id = isRecord(reply.body) && typeof reply.body.subscription_id === 'string' ? reply.body.subscription_id : undefined;
    if (id) this.announced.add(id);
    this.reply(this.message(request.uuid, path, reply.http_status, reply.headers, replyBytes(reply)));
    if (id) this.release(id);
  }

  /** Sends what waited for a subscription's reply, and forgets what waited for one that never came to be. */
  private release(id: string): void {
    const waiting = this.held.get(id) ?? [];
    this.held.delete(id);
    this.heldCount -= waiting.length;
    for (const event of waiting) if (!this.push(event)) return;
    for (const [other, events] of this.held) {
      if (!this.context.subscriptions.has(other)) {
        this.held.delete(other);
        this.heldCount -= events.length;
      }
    }
  }

  private message(uuid: string, path: string, status: number, headers: Record<string, string>, bytes: Buffer): ResponseMessage {
    const type = headers['content-type'] ?? '';
    const json = /^application\/(?:[\w.-]+\+)?json/i.test(type);
    let body: unknown = bytes;
    if (json && this.link.jsonAsMap() && bytes.length > 0) {
      try {
        body = JSON.parse(bytes.toString('utf8'));
      } catch {
        body = bytes;
      }
    }
    return { uuid, request_uri: path, http_status: status, body_msg_type: type.split(';')[0]!.trim(), headers, body };
  }

  private reply(message: ResponseMessage): void {
    this.write(encodeResponse(message));
  }

  private write(message: Uint8Array): void {
    if (this.closed) return;
    if (!this.gate) return this.link.send(message);
    if (this.gate.length >= MAX_HELD_EVENTS) return this.link.close(`slow consumer: more than ${MAX_HELD_EVENTS} messages waiting for a file transfer`);
    this.gate.push(message);
  }

  private openGate(): void {
    const waiting = this.gate ?? [];
    this.gate = undefined;
    for (const message of waiting) this.write(message);
  }

  /** TCP download: the reply, then the file in data frames and a zero-length frame; nothing else meanwhile. */
  private async download(request: MessageRequest, path: string): Promise<void> {
    const frames = this.link.frames!;
    const { core } = this.context;
    let file;
    try {
      file = await core.files.download(await caller(core, request, this.client), filePath(request));
    } catch (error) {
      return this.reply(this.failure(request.uuid, path, error));
    }
    this.reply(transferReply(request.uuid, path, { 'X-Recv-File-Socket': Buffer.from(filePath(request) ?? '').toString('base64'), 'X-File-Mode': String(file.mode), 'X-File-User': file.user, 'X-File-Group': file.group }));
    this.gate = [];
    try {
      for await (const chunk of file.stream as AsyncIterable<Buffer>) {
        for (let offset = 0; offset < chunk.length && !this.closed; offset += FILE_FRAME_BYTES) await frames.sendFrame(chunk.subarray(offset, offset + FILE_FRAME_BYTES));
        if (this.closed) break;
      }
      if (!this.closed) await frames.sendFrame(Buffer.alloc(0));
    } catch (error) {
      // The reply promised a file: a half-sent one can only end the connection.
      this.link.close(`file download failed: ${(error as Error).message}`);
    } finally {
      file.stream.destroy();
      this.openGate();
    }
  }

  /** TCP upload: authorised and checked before the reply, then the peer's data frames are the file until a zero-length frame. */
  private async receive(request: MessageRequest, path: string): Promise<void> {
    const frames = this.link.frames!;
    const { core } = this.context;
    const body = new UploadBody(frames);
    let principal;
    try {
      principal = await caller(core, request, this.client);
    } catch (error) {
      return this.reply(this.failure(request.uuid, path, error));
    }
    const stored = core.files.upload(principal, filePath(request), body, { mode: headerOf(request, 'x-file-mode'), user: headerOf(request, 'x-file-user'), group: headerOf(request, 'x-file-group') });
    // The service reads the body only once the caller, path and target passed: refused before, the reply says why.
    const outcome = await Promise.race([body.reading.then(() => 'reading' as const), stored.then(() => 'done' as const, (error: unknown) => error)]);
    if (outcome !== 'reading' && outcome !== 'done') return this.reply(this.failure(request.uuid, path, outcome));
    this.upload = body;
    this.reply(transferReply(request.uuid, path, { 'X-Send-File-Socket': Buffer.from(filePath(request) ?? '').toString('base64') }));
    try {
      await stored;
    } catch (error) {
      this.link.close(`file upload failed: ${(error as Error).message}`);
    } finally {
      this.upload = undefined;
      frames.resumeInput();
    }
  }

  /** WebSocket file transfer: the reply's Authorization header is a file token for the HTTP routes of the same port. */
  private async fileTokenReply(request: MessageRequest, path: string): Promise<void> {
    try {
      const token = await this.link.fileToken!(await caller(this.context.core, request, this.client));
      this.reply(transferReply(request.uuid, path, { Authorization: token }));
    } catch (error) {
      this.reply(this.failure(request.uuid, path, error));
    }
  }

  private failure(uuid: string, path: string, error: unknown): ResponseMessage {
    if (error instanceof ServiceError) return { ...errorResponse(uuid, path, error.status, error.message), headers: { 'content-type': 'application/json; charset=utf-8', ...error.headers } };
    this.context.core.log.error(`file transfer failed: ${(error as Error)?.stack ?? String(error)}`);
    return errorResponse(uuid, path, 500, 'Internal server error');
  }
}

function transferReply(uuid: string, path: string, headers: Record<string, string>): ResponseMessage {
  return { uuid, request_uri: path, http_status: 200, body_msg_type: 'application/json', headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: Buffer.from(JSON.stringify({ message: 'file transfer follows on this connection' })) };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function replyBytes(reply: RestReply): Buffer {
  if (reply.body_encoding === 'base64' && typeof reply.body === 'string') return Buffer.from(reply.body, 'base64');
  if (typeof reply.body === 'string') return Buffer.from(reply.body);
  if (reply.body === undefined) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(reply.body));
}
