import { Ajv } from 'ajv';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ok } from './helpers/mcp-client.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// A client compiles a validator for each tool's output schema when it lists the tools: tools with
// the same result shape share one schema id, so the SDK's client compiles each shape once, and
// every field of a result is named in the schema the client was shown.
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

/** The SDK's client with its default validator, counting what it compiles. */
async function countingClient(): Promise<{ client: Client; compiled: () => number }> {
  const ajv = new Ajv({ strict: false, validateFormats: false, validateSchema: false, allErrors: true });
  let compiled = 0;
  const compile = ajv.compile.bind(ajv);
  ajv.compile = ((schema: object) => (compiled++, compile(schema))) as typeof ajv.compile;
  const client = new Client({ name: 'appmesh-test', version: '1.0.0' }, { jsonSchemaValidator: new AjvJsonSchemaValidator(ajv) });
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', d.url), { requestInit: { headers: { Authorization: `Bearer ${d.token}` } } }));
  return { client, compiled: () => compiled };
}

describe('listed output schemas', () => {
  test('one schema id per result shape: the client compiles each shape once, also when it lists again', async () => {
    const { client, compiled } = await countingClient();
    try {
      const { tools } = await client.listTools();
      const idOf = (name: string) => String(tools.find((tool) => tool.name === name)?.outputSchema?.$id);
      const ids = new Set(tools.map((tool) => tool.outputSchema?.$id));
      expect(ids.has(undefined)).toBe(false);
      expect(ids.size).toBeLessThan(tools.length);
      // Same result shape, same id; another shape, another id.
      expect(idOf('enable_app')).toBe(idOf('delete_label'));
      expect(idOf('run_command')).toBe(idOf('wait_run'));
      expect(idOf('run_command')).not.toBe(idOf('read_output'));
      expect(compiled()).toBe(ids.size);
      await client.listTools();
      expect(compiled()).toBe(ids.size);
    } finally {
      await client.close();
    }
  });

  test('every field of a structured result is named in the listed schema, with its type', async () => {
    const { client } = await countingClient();
    try {
      const { tools } = await client.listTools();
      const schemaOf = (name: string) => tools.find((tool) => tool.name === name)?.outputSchema as { properties: Record<string, { description: string }> };
      const run = await ok(client, 'run_command', { command: 'echo listed' });
      expect(run.output).toBe('listed\n');
      expect(Object.keys(run).sort()).toEqual(Object.keys(schemaOf('run_command').properties).sort());
      expect(schemaOf('run_command').properties.exit_code.description).toBe('number or null');
      expect(schemaOf('run_command').properties.status.description).toBe('"running" or "exited"');
      const user = await ok(client, 'get_current_user');
      for (const field of Object.keys(schemaOf('get_current_user').properties)) expect(user).toHaveProperty(field);
    } finally {
      await client.close();
    }
  });
});
