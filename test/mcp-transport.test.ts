import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Streamable HTTP as a client without the SDK sees it: a request answered before anything else
// is sent comes back as one JSON body; one whose run sends progress comes back as an event
// stream; the protocol's refusals keep their status codes.
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const VERSION = '2025-06-18';
const BOTH = 'application/json, text/event-stream';

interface Exchange {
  status: number;
  type: string;
  session: string | null;
  text: string;
}

async function post(body: unknown, headers: Record<string, string> = {}): Promise<Exchange> {
  const response = await fetch(`${d.url}/mcp`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json', Accept: BOTH, ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, type: response.headers.get('content-type') ?? '', session: response.headers.get('mcp-session-id'), text: await response.text() };
}

async function openSession(): Promise<Record<string, string>> {
  const opened = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
  expect(opened.status).toBe(200);
  expect(opened.type).toMatch(/^application\/json/);
  expect(JSON.parse(opened.text).result.protocolVersion).toBe(VERSION);
  expect(opened.session).toBeTruthy();
  const headers = { 'Mcp-Session-Id': opened.session!, 'Mcp-Protocol-Version': VERSION };
  expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers)).status).toBe(202);
  return headers;
}

/** The JSON-RPC messages of an event stream's body. */
const events = (text: string) => text.split('\n').filter((line) => line.startsWith('data: ')).map((line) => JSON.parse(line.slice(6)) as { id?: number; method?: string; result?: { structuredContent?: Record<string, unknown> } });

describe('MCP over Streamable HTTP, on the wire', () => {
  test('a quick call is one JSON body; a batch of two is an array of both responses', async () => {
    const session = await openSession();
    const quick = await post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'run_command', arguments: { command: 'echo wire' } } }, session);
    expect(quick.status).toBe(200);
    expect(quick.type).toMatch(/^application\/json/);
    expect(JSON.parse(quick.text)).toMatchObject({ id: 2, result: { structuredContent: { exit_code: 0, output: 'wire\n' } } });
    const batch = await post(
      [
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_current_user', arguments: {} } },
        { jsonrpc: '2.0', id: 4, method: 'ping' },
      ],
      session,
    );
    expect(batch.type).toMatch(/^application\/json/);
    expect((JSON.parse(batch.text) as { id: number }[]).map((response) => response.id).sort()).toEqual([3, 4]);
  });

  test('a call whose run sends progress is an event stream: the progress, then the result', async () => {
    const session = await openSession();
    const slow = await post({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'run_command', arguments: { command: 'sleep 1.5; echo late' }, _meta: { progressToken: 'p1' } } }, session);
    expect(slow.status).toBe(200);
    expect(slow.type).toMatch(/^text\/event-stream/);
    const messages = events(slow.text);
    expect(messages[0].method).toBe('notifications/progress');
    expect(messages.at(-1)).toMatchObject({ id: 5, result: { structuredContent: { exit_code: 0, output: 'late\n' } } });
  });

  test('refusals: what the client must accept, its protocol version, a second GET stream, an ended session', async () => {
    const session = await openSession();
    const call = { jsonrpc: '2.0', id: 6, method: 'ping' };
    expect((await post(call, { ...session, Accept: 'application/json' })).status).toBe(406);
    expect((await post(call, { ...session, 'Mcp-Protocol-Version': '1999-01-01' })).status).toBe(400);
    expect((await post({ not: 'json-rpc' }, session)).status).toBe(400);

    const stream = new AbortController();
    const get = () => fetch(`${d.url}/mcp`, { headers: { Authorization: `Bearer ${d.token}`, Accept: 'text/event-stream', ...session }, signal: stream.signal });
    const first = await get();
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect((await get()).status).toBe(409);
    stream.abort();

    const ended = await fetch(`${d.url}/mcp`, { method: 'DELETE', headers: { Authorization: `Bearer ${d.token}`, ...session } });
    expect(ended.status).toBe(200);
    expect((await post(call, session)).status).toBe(404);
  });
});
