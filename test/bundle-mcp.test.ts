// MCP through the bundled daemon, whose bundle evaluates the SDK's JSON Schema validator (ajv)
// only when one is first made: sessions, listings and calls never need it.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUNDLE_MAIN, spawnBundledDaemon } from './helpers/bundled-daemon.js';
import { mcpClient, ok } from './helpers/mcp-client.js';
import { ALL_TOOLS } from '../tools/mcp-server.js';
import { listedTools, useListedTools } from '../tools/tool-kit.js';
import { login, waitFor } from './helpers/test-daemon.js';

const ROOT = join(import.meta.dirname, '..');
const PASSWORD = 'Bundle-Mcp-Password-1';
const AJV_PROVIDER = 'node_modules/@modelcontextprotocol/sdk/dist/esm/validation/ajv-provider.js';

/** The text of the bundle's chunk holding the SDK's validator module. */
function chunkWithValidator(): string {
  const dir = dirname(BUNDLE_MAIN);
  for (const name of readdirSync(dir).filter((file) => file.endsWith('.js'))) {
    const text = readFileSync(join(dir, name), 'utf8');
    if (text.includes(`"${AJV_PROVIDER}"`)) return text;
  }
  throw new Error('no chunk of the bundle holds the MCP SDK validator');
}

describe('MCP in the bundled daemon', () => {
  let child: ChildProcess;
  let home: string;
  let client: Client;

  beforeAll(async () => {
    const daemon = await spawnBundledDaemon({ password: PASSWORD });
    ({ child, home } = daemon);
    await waitFor(async () => (await fetch(`${daemon.url}/appmesh/readyz`).catch(() => undefined))?.status === 200, 20_000);
    client = await mcpClient(daemon.url, await login(daemon.url, 'admin', PASSWORD));
  });

  afterAll(async () => {
    await client?.close().catch(() => undefined);
    child?.kill('SIGTERM');
    await new Promise((resolve) => (child && child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    await rm(home, { recursive: true, force: true });
  });

  test('lists the tools, with their output schemas, and calls one', async () => {
    const { tools } = await client.listTools();
    expect(tools.length).toBeGreaterThan(40);
    expect(tools.find((tool) => tool.name === 'run_command')?.outputSchema?.properties).toHaveProperty('exit_code');
    expect(await ok<{ name: string }>(client, 'get_current_user')).toMatchObject({ name: 'admin' });
  });

  test('its tools/list is the listing made by the build, which is the listing of the sources', async () => {
    const madeAhead: unknown = JSON.parse(readFileSync(join(dirname(BUNDLE_MAIN), 'tool-listing.json'), 'utf8'));
    expect(madeAhead).toEqual(JSON.parse(JSON.stringify(listedTools(ALL_TOOLS))));
    const { tools } = await client.listTools();
    expect(JSON.parse(JSON.stringify(tools))).toEqual(madeAhead);
  });

  test('a listing made ahead is taken only when it has every tool', () => {
    const listed = listedTools(ALL_TOOLS);
    expect(useListedTools(ALL_TOOLS, listed.slice(1))).toBe(false);
    expect(useListedTools(ALL_TOOLS, [...listed.slice(1), { ...listed[1], name: 'not_a_tool' }])).toBe(false);
    expect(useListedTools(ALL_TOOLS, listed)).toBe(true);
  });

  test("the SDK's validator module is evaluated only when a validator is made", () => {
    const text = chunkWithValidator();
    // esbuild's lazy module: its body (ajv and its formats) runs at the first call of its init.
    expect(text).toMatch(new RegExp(`=__esm\\(\\{"${AJV_PROVIDER.replace(/[./]/g, '\\$&')}"`));
    const init = /(\w+)=__esm\(\{"node_modules\/@modelcontextprotocol\/sdk\/dist\/esm\/validation\/ajv-provider\.js"/.exec(text)![1];
    // Called from one place: the constructor standing in for the SDK's validator class.
    const calls = text.split(`${init}()`).length - 1;
    expect(calls).toBe(1);
    expect(text).toMatch(new RegExp(`constructor\\(\\w+\\)\\{let\\{AjvJsonSchemaValidator:Real\\}=\\(${init}\\(\\)`));
  });

  test("the SDK's validator, bundled to be evaluated on first use, is made and validates", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'appmesh-validator-'));
    try {
      const entry = [
        "import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';",
        "const check = new AjvJsonSchemaValidator().getValidator({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] });",
        'console.log(JSON.stringify([check({ n: 1 }).valid, check({ n: "one" }).valid, check({}).valid]));',
      ].join('\n');
      const script = [
        "import { build } from 'esbuild';",
        `import { REQUIRE_SHIM, schemaValidatorOnFirstUse } from ${JSON.stringify(pathToFileURL(join(ROOT, 'scripts', 'bundle-daemon.mjs')).href)};`,
        `await build({ stdin: { contents: ${JSON.stringify(entry)}, resolveDir: ${JSON.stringify(ROOT)}, loader: 'js' }, bundle: true, platform: 'node', format: 'esm', banner: { js: REQUIRE_SHIM }, outfile: ${JSON.stringify(join(dir, 'check.mjs'))}, plugins: [schemaValidatorOnFirstUse()], logLevel: 'error' });`,
      ].join('\n');
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
      const bundled = readFileSync(join(dir, 'check.mjs'), 'utf8');
      expect(bundled).toContain(`"${AJV_PROVIDER}"`);
      expect(JSON.parse(execFileSync(process.execPath, [join(dir, 'check.mjs')]).toString())).toEqual([true, false, false]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
