import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { answeredAsIs, errorResult } from '../tools/tool-kit.js';
import { call, mcpClient } from './helpers/mcp-client.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * A tools/call result is sent without being parsed again against the protocol's result schema
 * only when that parse would give it back unchanged: the bytes on the wire are the same as the
 * SDK's own server sends, and the SDK's client still checks them.
 */
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const asParsed = (result: unknown) => JSON.stringify(CallToolResultSchema.parse(result));

describe('results sent as they are', () => {
  test('are exactly what the schema makes of them', () => {
    const link = { name: 'r output', uri: 'appmesh://apps/r/output', description: 'The complete output, in pages', mimeType: 'text/plain', type: 'resource_link' };
    const same = [
      { content: [{ type: 'text', text: '{"a":1}' }], structuredContent: { a: 1, nested: { b: [1, null] } } },
      { content: [{ type: 'text', text: '{}' }, link], structuredContent: { output_resource: 'appmesh://apps/r/output' } },
      errorResult(new Error('refused')),
      { content: [{ type: 'text', text: 'Tool x not found' }], isError: true },
    ];
    for (const result of same) {
      expect(answeredAsIs(result)).toBe(true);
      expect(JSON.stringify(result)).toBe(asParsed(result));
    }
  });

  test('anything else goes through the schema', () => {
    const other = [
      { structuredContent: { a: 1 }, content: [{ type: 'text', text: 'x' }] },
      { isError: true, content: [{ type: 'text', text: 'x' }] },
      { content: [{ text: 'x', type: 'text' }] },
      { content: [{ type: 'text', text: 'x', annotations: { priority: 1 } }] },
      { content: [{ type: 'resource_link', uri: 'u', name: 'n' }] },
      { content: [{ type: 'image', data: 'AA==', mimeType: 'image/png' }] },
      { content: [{ type: 'text', text: 'x' }], _meta: { a: 1 } },
      { content: [{ type: 'text', text: 'x' }], isError: 'yes' },
      { content: [] },
      { content: [{ type: 'text', text: 'x' }], structuredContent: [1] },
    ];
    for (const result of other) expect({ result, asIs: answeredAsIs(result) }).toEqual({ result, asIs: false });
  });
});

describe('on the wire', () => {
  const VERSION = '2025-06-18';
  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${d.url}/mcp`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(body),
    });
    return { session: response.headers.get('mcp-session-id'), text: await response.text() };
  };

  test('each answer is byte for byte the one the SDK would send', async () => {
    const opened = await post({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    const headers = { 'Mcp-Session-Id': opened.session!, 'Mcp-Protocol-Version': VERSION };
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    const calls: [string, Record<string, unknown>][] = [
      ['run_command', { command: 'echo wire' }],
      ['run_command', { command: 'exit 4' }],
      ['run_command', { yield_ms: -1 }],
      ['get_current_user', {}],
      ['read_output', { handle: 'no-such-run' }],
      ['get_app', { name: 42 }],
      ['no_such_tool', {}],
    ];
    let id = 10;
    for (const [name, args] of calls) {
      const answer = await post({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name, arguments: args } }, headers);
      const { result } = JSON.parse(answer.text) as { result: unknown };
      expect({ name, text: answer.text }).toEqual({ name, text: JSON.stringify({ result: CallToolResultSchema.parse(result), jsonrpc: '2.0', id }) });
    }
  });

  test("the SDK's client checks a structured result against the tool's output schema and takes it", async () => {
    const client = await mcpClient(d.url, d.token);
    try {
      const result = await call(client, 'run_command', { command: 'echo checked' });
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ status: 'exited', exit_code: 0, output: 'checked\n' });
      expect(result.content).toHaveLength(2);
    } finally {
      await client.close();
    }
  });
});
