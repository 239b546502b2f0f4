import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type JSONRPCRequest, type JSONRPCResponse, type RequestId } from '@modelcontextprotocol/sdk/types.js';

/** An SSE comment this often keeps a quiet stream from being cut by idle timeouts on the way. */
const KEEP_ALIVE_MS = 15_000;
const MAX_BATCH = 100;
const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' };

/** The answer to one POST carrying requests, open until each of them has its response. */
interface Exchange {
  response: ServerResponse;
  /** Requests of the POST still without a response. */
  waiting: Set<RequestId>;
  /** Responses kept for a single JSON body. */
  ready: JSONRPCMessage[];
  /** Switched to an event stream: something else had to be sent first, or the answer is slow. */
  streaming: boolean;
  timer?: NodeJS.Timeout;
}

/**
 * MCP's Streamable HTTP on Node's own request and response, one per session. A POST whose
 * requests are answered before anything else is sent gets one `application/json` body in one
 * write; a notification for one of its requests (progress, logs) or a slow answer turns it into
 * an event stream, as the SDK's transport always does. Both are the protocol's own choices for
 * the server. GET opens the session's stream of server messages, DELETE ends the session.
 */
export class McpHttpTransport implements Transport {
  sessionId?: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  private initialized = false;
  private closed = false;
  private readonly exchanges = new Map<RequestId, Exchange>();
  private standalone?: { response: ServerResponse; timer: NodeJS.Timeout };

  constructor(private readonly events: { initialized(id: string): void; closed(id: string): void }) {}

  async start(): Promise<void> {}

  /** Serves one HTTP request of the session; `body` is the parsed JSON of a POST. */
  async handle(request: IncomingMessage, response: ServerResponse, body: unknown, authInfo: AuthInfo): Promise<void> {
    if (this.closed) return this.fail(response, 404, -32001, 'Session not found');
    if (request.method === 'POST') return this.post(request, response, body, authInfo);
    if (request.method === 'GET') return this.get(request, response);
    if (request.method === 'DELETE') return this.delete(request, response);
    response.setHeader('Allow', 'GET, POST, DELETE');
    this.fail(response, 405, -32000, 'Method not allowed.');
  }

  private post(request: IncomingMessage, response: ServerResponse, body: unknown, authInfo: AuthInfo): void {
    const accept = request.headers.accept ?? '';
    if (!accept.includes('application/json') || !accept.includes('text/event-stream')) {
      return this.fail(response, 406, -32000, 'Not Acceptable: Client must accept both application/json and text/event-stream');
    }
    if (!/^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '')) {
      return this.fail(response, 415, -32000, 'Unsupported Media Type: Content-Type must be application/json');
    }
    if (Array.isArray(body) && body.length > MAX_BATCH) return this.fail(response, 400, -32600, `Invalid Request: Batch must not exceed ${MAX_BATCH} messages`);
    let messages: JSONRPCMessage[];
    try {
      messages = (Array.isArray(body) ? body : [body]).map((message) => JSONRPCMessageSchema.parse(message));
    } catch {
      return this.fail(response, 400, -32700, 'Parse error: Invalid JSON-RPC message');
    }
    const initializing = messages.some((message) => isRequest(message) && message.method === 'initialize');
    if (initializing) {
      if (this.initialized) return this.fail(response, 400, -32600, 'Invalid Request: Server already initialized');
      if (messages.length > 1) return this.fail(response, 400, -32600, 'Invalid Request: Only one initialization request is allowed');
      this.sessionId = randomUUID();
      this.initialized = true;
      this.events.initialized(this.sessionId);
    } else if (!this.sessionValid(request, response)) {
      return;
    }
    const extra = { authInfo, requestInfo: { headers: request.headers } };
    const requests = messages.filter(isRequest);
    if (requests.length === 0) {
      response.writeHead(202).end();
      for (const message of messages) this.onmessage?.(message, extra);
      return;
    }
    const exchange: Exchange = { response, waiting: new Set(requests.map((message) => message.id)), ready: [], streaming: false };
    for (const id of exchange.waiting) this.exchanges.set(id, exchange);
    // A slow answer becomes a stream, so that it can be kept alive.
    exchange.timer = setTimeout(() => this.keepAlive(exchange), KEEP_ALIVE_MS);
    response.on('close', () => this.forget(exchange));
    for (const message of messages) this.onmessage?.(message, extra);
  }

  private get(request: IncomingMessage, response: ServerResponse): void {
    if (!(request.headers.accept ?? '').includes('text/event-stream')) return this.fail(response, 406, -32000, 'Not Acceptable: Client must accept text/event-stream');
    if (!this.sessionValid(request, response)) return;
    if (this.standalone) return this.fail(response, 409, -32000, 'Conflict: Only one SSE stream is allowed per session');
    response.writeHead(200, this.headers(SSE_HEADERS));
    response.flushHeaders();
    const stream = { response, timer: setInterval(() => response.write(': keepalive\n\n'), KEEP_ALIVE_MS) };
    this.standalone = stream;
    response.on('close', () => {
      clearInterval(stream.timer);
      if (this.standalone === stream) this.standalone = undefined;
    });
  }

  private delete(request: IncomingMessage, response: ServerResponse): void {
    if (!this.sessionValid(request, response)) return;
    if (this.sessionId) this.events.closed(this.sessionId);
    response.writeHead(200).end();
    void this.close();
  }

  private sessionValid(request: IncomingMessage, response: ServerResponse): boolean {
    if (!this.initialized) {
      this.fail(response, 400, -32000, 'Bad Request: Server not initialized');
      return false;
    }
    const id = request.headers['mcp-session-id'];
    if (!id) {
      this.fail(response, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
      return false;
    }
    if (id !== this.sessionId) {
      this.fail(response, 404, -32001, 'Session not found');
      return false;
    }
    const version = request.headers['mcp-protocol-version'];
    if (typeof version === 'string' && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      this.fail(response, 400, -32000, `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')})`);
      return false;
    }
    return true;
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const answer = isResponse(message);
    const id = answer ? message.id : options?.relatedRequestId;
    if (id === undefined) {
      if (answer) throw new Error('Cannot send a response on a standalone SSE stream unless resuming a previous client request');
      // Server messages of no request go to the session's GET stream, if the client opened one.
      if (this.standalone) this.standalone.response.write(event(message));
      return;
    }
    const exchange = this.exchanges.get(id);
    // The client went away, or the request was already answered: nothing to write to.
    if (!exchange) return;
    if (!answer) {
      this.stream(exchange);
      exchange.response.write(event(message));
      return;
    }
    this.exchanges.delete(id);
    exchange.waiting.delete(id);
    if (exchange.streaming) exchange.response.write(event(message));
    else exchange.ready.push(message);
    if (exchange.waiting.size > 0) return;
    clearTimeout(exchange.timer);
    if (exchange.streaming) {
      exchange.response.end();
      return;
    }
    const json = JSON.stringify(exchange.ready.length === 1 ? exchange.ready[0] : exchange.ready);
    exchange.response.writeHead(200, this.headers({ 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) })).end(json);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const exchange of new Set(this.exchanges.values())) {
      this.forget(exchange);
      if (!exchange.response.headersSent) this.fail(exchange.response, 404, -32001, 'Session not found');
      else exchange.response.end();
    }
    if (this.standalone) {
      clearInterval(this.standalone.timer);
      this.standalone.response.end();
      this.standalone = undefined;
    }
    this.onclose?.();
  }

  /** From now on the POST's answer is an event stream; responses already made go first. */
  private stream(exchange: Exchange): void {
    if (exchange.streaming) return;
    exchange.streaming = true;
    exchange.response.writeHead(200, this.headers(SSE_HEADERS));
    for (const message of exchange.ready.splice(0)) exchange.response.write(event(message));
  }

  private keepAlive(exchange: Exchange): void {
    if (exchange.response.writableEnded) return;
    this.stream(exchange);
    exchange.response.write(': keepalive\n\n');
    exchange.timer = setTimeout(() => this.keepAlive(exchange), KEEP_ALIVE_MS);
  }

  private forget(exchange: Exchange): void {
    clearTimeout(exchange.timer);
    for (const id of exchange.waiting) if (this.exchanges.get(id) === exchange) this.exchanges.delete(id);
  }

  private headers(headers: Record<string, string | number>): Record<string, string | number> {
    return this.sessionId === undefined ? headers : { ...headers, 'mcp-session-id': this.sessionId };
  }

  private fail(response: ServerResponse, status: number, code: number, message: string): void {
    this.onerror?.(new Error(message));
    const body = JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null });
    response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
  }
}

// Shapes checked by the schema on the way in, or made by the SDK on the way out: a look at the
// keys tells them apart (the SDK's guards parse the whole message, result and all, again).
const isRequest = (message: JSONRPCMessage): message is JSONRPCRequest => 'method' in message && 'id' in message;
const isResponse = (message: JSONRPCMessage): message is JSONRPCResponse => ('result' in message || 'error' in message) && 'id' in message;

function event(message: JSONRPCMessage): string {
  return `event: message\ndata: ${JSON.stringify(message)}\n\n`;
}
