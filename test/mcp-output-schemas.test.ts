import { Ajv } from 'ajv';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ok } from './helpers/mcp-client.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// A client compiles a validator for each tool's output schema when it lists the tools: the
// schemas give every field of a result its JSON type and the rest of its shape in words (a nested
// shape as keywords doubled the compile time), and any client can compile them all, listing
// after listing.
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
  test('older clients compile every listed output schema into one compiler, listing after listing, without an error', async () => {
    // As the SDK's client did before it looked compiled schemas up by id: Ajv refuses an id it holds.
    const ajv = new Ajv({ strict: false });
    const client = new Client({ name: 'appmesh-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', d.url), { requestInit: { headers: { Authorization: `Bearer ${d.token}` } } }));
    try {
      for (let listing = 0; listing < 2; listing++) {
        const { tools } = await client.listTools();
        for (const tool of tools) expect(() => ajv.compile(tool.outputSchema!), tool.name).not.toThrow();
      }
    } finally {
      await client.close();
    }
  });

  test('a listed output schema gives each field its JSON type, and nested shapes in words: one compile per tool', async () => {
    const { client, compiled } = await countingClient();
    try {
      const { tools } = await client.listTools();
      expect(compiled()).toBe(tools.length);
      for (const tool of tools) {
        expect(tool.outputSchema?.type, tool.name).toBe('object');
        for (const [field, schema] of Object.entries(tool.outputSchema?.properties ?? {})) {
          // Types only at the top: no nested keywords for a client to compile.
          expect(Object.keys(schema as object).filter((key) => key !== 'type' && key !== 'description'), `${tool.name}.${field}`).toEqual([]);
          expect(typeof (schema as { description: unknown }).description, `${tool.name}.${field}`).toBe('string');
        }
      }
    } finally {
      await client.close();
    }
  });

  test('every field of a structured result is named in the listed schema, with its type', async () => {
    const { client } = await countingClient();
    try {
      const { tools } = await client.listTools();
      const schemaOf = (name: string) => tools.find((tool) => tool.name === name)?.outputSchema as { properties: Record<string, { type?: string | string[]; description: string }> };
      const run = await ok(client, 'run_command', { command: 'echo listed' });
      expect(run.output).toBe('listed\n');
      expect(Object.keys(run).sort()).toEqual(Object.keys(schemaOf('run_command').properties).sort());
      expect(schemaOf('run_command').properties.exit_code).toMatchObject({ type: ['number', 'null'], description: 'number or null' });
      expect(schemaOf('run_command').properties.status).toMatchObject({ type: 'string', description: '"running" or "exited"' });
      expect(schemaOf('run_command').properties.output.type).toBe('string');
      const user = await ok(client, 'get_current_user');
      for (const field of Object.keys(schemaOf('get_current_user').properties)) expect(user).toHaveProperty(field);
    } finally {
      await client.close();
    }
  });
});
