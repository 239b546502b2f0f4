import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { login, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';
import { call, mcpClient, ok } from './helpers/mcp-client.js';

const ORIGINAL_TOOLS = [
  'list_apps', 'get_app', 'add_app', 'delete_app', 'enable_app', 'disable_app', 'check_app_health', 'get_app_output',
  'run_app_sync', 'run_app_async', 'run_task', 'cancel_task', 'get_host_resources', 'get_metrics', 'file_download_command',
  'file_upload_command', 'get_config', 'set_config', 'set_log_level', 'list_labels', 'add_label', 'delete_label',
  'get_current_user', 'list_users', 'add_user', 'delete_user', 'lock_user', 'unlock_user', 'list_groups', 'list_permissions',
  'get_user_permissions', 'list_roles', 'update_role', 'delete_role', 'update_password', 'get_totp_secret', 'enable_totp', 'disable_totp',
];
const AGENT_TOOLS = ['run_command', 'read_output', 'search_output', 'write_stdin', 'wait_run', 'kill_run', 'start_service', 'tail_log', 'workspace_open', 'workspace_list', 'workspace_remove'];

interface RunResult {
  status: 'running' | 'exited';
  handle: string;
  exit_code: number | null;
  output: string;
  output_bytes: number;
  truncated: boolean;
  cursor: number;
  output_resource: string;
}

let d: TestDaemon;
let admin: Client;
let scratch: string;
beforeAll(async () => {
  d = await startTestDaemon();
  admin = await mcpClient(d.url, d.token);
  scratch = await mkdtemp(join(tmpdir(), 'appmesh-mcp-test-'));
});
afterAll(async () => {
  await admin.close();
  await d.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('MCP over Streamable HTTP', () => {
  test('without a token: 401 naming the protected-resource metadata', async () => {
    const response = await fetch(`${d.url}/mcp`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    expect(response.status).toBe(401);
    const header = response.headers.get('www-authenticate') ?? '';
    expect(header).toContain(`resource_metadata="${d.url}/.well-known/oauth-protected-resource"`);
    const metadata = (await (await fetch(`${d.url}/.well-known/oauth-protected-resource`)).json()) as { resource: string; authorization_servers: string[] };
    expect(metadata.resource).toBe(`${d.url}/mcp`);
    expect(metadata.authorization_servers).toEqual([d.url]);
  });

  test('admin sees the 38 original tools and the agent tools, each with annotations and an output schema', async () => {
    const { tools } = await admin.listTools();
    const names = tools.map((tool) => tool.name);
    for (const name of [...ORIGINAL_TOOLS, ...AGENT_TOOLS]) expect(names).toContain(name);
    expect(ORIGINAL_TOOLS).toHaveLength(38);
    for (const tool of tools) {
      expect(tool.outputSchema, tool.name).toBeDefined();
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        expect(typeof tool.annotations?.[hint], `${tool.name}.${hint}`).toBe('boolean');
      }
    }
  });

  test('a restricted user sees fewer tools and is refused a hidden one by name', async () => {
    await d.request('PUT', '/appmesh/user/reader', { body: { key: 'Reader-Password-1', group: 'r', roles: ['view'] } });
    const reader = await mcpClient(d.url, await login(d.url, 'reader', 'Reader-Password-1'));
    const names = (await reader.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('list_apps');
    expect(names).not.toContain('run_app_sync');
    expect(names).not.toContain('run_command');
    const refused = await reader.callTool({ name: 'run_app_sync', arguments: { command: 'id' } }).catch((error: Error) => ({ isError: true, content: [{ type: 'text', text: error.message }] }));
    expect(refused.isError).toBe(true);
    await reader.close();
  });

  test('run_app_sync of `echo hi` returns hi and exit code 0; a failing command is a normal result', async () => {
    expect(await ok(admin, 'run_app_sync', { command: 'echo hi' })).toEqual({ exit_code: 0, output: 'hi\n' });
    const failed = await call(admin, 'run_app_sync', { command: 'echo oops >&2; exit 4' });
    expect(failed.isError).toBeFalsy();
    expect(failed.structuredContent).toEqual({ exit_code: 4, output: 'oops\n' });
    const denied = await call(admin, 'get_app', { app_name: 'no-such-app' });
    expect(denied.isError).toBe(true);
    expect(denied.content[0].text).toContain('No such application');
  });

  test('a 70 s command with a 2 s deadline returns a handle; reading it later yields the whole output and exit code', { timeout: 120_000 }, async () => {
    const started = await ok<RunResult>(admin, 'run_command', { command: 'echo begin; sleep 70; echo end', yield_ms: 2000 });
    expect(started.status).toBe('running');
    expect(started.output).toBe('begin\n');
    // Each wait stays below the MCP client's 60 s request timeout.
    let result = started;
    while (result.status === 'running') result = await ok<RunResult>(admin, 'wait_run', { handle: started.handle, timeout_ms: 30_000 });
    expect(result).toMatchObject({ status: 'exited', exit_code: 0, output: 'begin\nend\n', truncated: false });
    const read = await ok<{ output: string; eof: boolean; exit_code: number }>(admin, 'read_output', { handle: started.handle, cursor: 0 });
    expect(read).toMatchObject({ output: 'begin\nend\n', eof: true, exit_code: 0 });
  });

  test('a 5 MB output comes back truncated with a marker; cursor reads and the resource reassemble it byte-exact', async () => {
    const file = join(scratch, 'big.txt');
    const result = await ok<RunResult & { omitted: { bytes: number; from: number; to: number } }>(admin, 'run_command', {
      command: `head -c 3932160 /dev/urandom | base64 -w 100 > ${file}; cat ${file}`, yield_ms: 30_000,
    });
    const expected = await readFile(file);
    expect(expected.length).toBeGreaterThan(5_000_000);
    expect(result.status).toBe('exited');
    expect(result.truncated).toBe(true);
    expect(result.output_bytes).toBe(expected.length);
    expect(result.output).toContain(`bytes omitted`);
    expect(Buffer.byteLength(result.output)).toBeLessThan(20_000);
    expect(result.omitted.bytes).toBe(expected.length - 16_384);

    const chunks: Buffer[] = [];
    let cursor = 0;
    for (;;) {
      const page = await ok<{ output: string; cursor: number; eof: boolean }>(admin, 'read_output', { handle: result.handle, cursor, max_bytes: 1_048_576 });
      chunks.push(Buffer.from(page.output));
      cursor = page.cursor;
      if (page.eof) break;
    }
    expect(createHash('sha256').update(Buffer.concat(chunks)).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));

    // The resource comes in pages; each names the next one in _meta.next.
    const pages: string[] = [];
    for (let uri: string | undefined = result.output_resource; uri; ) {
      const content = (await admin.readResource({ uri })).contents[0] as { text?: string; _meta?: { next?: string } };
      pages.push(content.text ?? '');
      uri = content._meta?.next;
    }
    expect(pages.length).toBe(Math.ceil(expected.length / 1_048_576));
    expect(createHash('sha256').update(pages.join('')).digest('hex')).toBe(createHash('sha256').update(expected).digest('hex'));
  });

  test('search_output finds lines in a long output with their offsets', async () => {
    const run = await ok<RunResult>(admin, 'run_command', { command: 'for i in $(seq 1 20000); do if [ $((i % 5000)) = 0 ]; then echo "ERROR at $i"; else echo "ok line $i"; fi; done', yield_ms: 30_000 });
    expect(run.status).toBe('exited');
    const found = await ok<{ matches: { line: number; offset: number; text: string }[]; truncated: boolean }>(admin, 'search_output', { handle: run.handle, text: 'error at' });
    expect(found.matches.map((match) => match.line)).toEqual([5000, 10000, 15000, 20000]);
    expect(found.truncated).toBe(false);
    const at = await ok<{ output: string }>(admin, 'read_output', { handle: run.handle, cursor: found.matches[1].offset, max_bytes: 15 });
    expect(at.output).toBe('ERROR at 10000\n');
    const limited = await ok<{ matches: unknown[]; truncated: boolean }>(admin, 'search_output', { handle: run.handle, text: 'ok line 1', max_matches: 3 });
    expect(limited).toMatchObject({ truncated: true });
    expect(limited.matches).toHaveLength(3);
  });

  test('cancelling an in-flight call kills the shell and its background grandchild', async () => {
    const pidFile = join(scratch, 'pids');
    const controller = new AbortController();
    const pending = call(admin, 'run_command', { command: `sleep 300 & echo $! > ${pidFile}; echo $$ >> ${pidFile}; wait`, yield_ms: 60_000 }, { signal: controller.signal });
    const pids = await waitFor(async () => {
      const text = await readFile(pidFile, 'utf8').catch(() => '');
      const values = text.split('\n').filter(Boolean).map(Number);
      return values.length === 2 ? values : undefined;
    }, 10_000, 'the pids');
    for (const pid of pids) expect(await processAlive(pid)).toBe(true);
    controller.abort();
    await pending.catch(() => undefined);
    await waitFor(async () => !(await processAlive(pids[0])) && !(await processAlive(pids[1])), 10_000, 'the tree to be killed');
  });

  test('progress notifications arrive while a run is in flight', async () => {
    const progress: number[] = [];
    const result = await call(admin, 'run_command', { command: 'sleep 2.5; echo done', yield_ms: 10_000 }, { onprogress: (event) => progress.push(event.progress) });
    expect(result.structuredContent).toMatchObject({ status: 'exited', output: 'done\n' });
    expect(progress.length).toBeGreaterThanOrEqual(2);
  });

  test('an interactive program answers input written through write_stdin', async () => {
    const started = await ok<RunResult>(admin, 'run_command', { command: 'cat', interactive: true, yield_ms: 300 });
    expect(started.status).toBe('running');
    await ok(admin, 'write_stdin', { handle: started.handle, data: 'hello agent\n' });
    const echoed = await ok<{ output: string; cursor: number }>(admin, 'read_output', { handle: started.handle, cursor: 0, wait_ms: 5000 });
    expect(echoed.output).toBe('hello agent\n');
    await ok(admin, 'write_stdin', { handle: started.handle, data: 'bye\n', close: true });
    const done = await ok<RunResult>(admin, 'wait_run', { handle: started.handle, timeout_ms: 5000 });
    expect(done).toMatchObject({ status: 'exited', exit_code: 0, output: 'hello agent\nbye\n' });
  });

  test('python3 -i keeps its state between inputs', async () => {
    const started = await ok<RunResult>(admin, 'run_command', { command: 'python3 -i -q -u', interactive: true, yield_ms: 300 });
    await ok(admin, 'write_stdin', { handle: started.handle, data: 'x = 20 + 22\nprint("x is", x)\n' });
    await waitFor(async () => (await ok<{ output: string }>(admin, 'read_output', { handle: started.handle, wait_ms: 1000 })).output.includes('x is 42') || undefined, 10_000, 'python to answer');
    await ok(admin, 'write_stdin', { handle: started.handle, data: 'print("again", x * 2)\n' });
    await waitFor(async () => (await ok<{ output: string }>(admin, 'read_output', { handle: started.handle, wait_ms: 1000 })).output.includes('again 84') || undefined, 10_000, 'python to remember x');
    await ok(admin, 'kill_run', { handle: started.handle });
  });

  test('kill_run stops a run; workspaces are the default working directory', async () => {
    const workspace = await ok<{ path: string }>(admin, 'workspace_open', { name: 'default' });
    const pwd = await ok<RunResult>(admin, 'run_command', { command: 'pwd', yield_ms: 5000 });
    expect(pwd.output.trim()).toBe(workspace.path);
    const started = await ok<RunResult>(admin, 'run_command', { command: 'sleep 300', yield_ms: 100 });
    const killed = await ok<{ status: string; exit_code: number }>(admin, 'kill_run', { handle: started.handle });
    expect(killed.status).toBe('exited');
    expect(killed.exit_code).toBeLessThan(0);
    const { workspaces } = await ok<{ workspaces: { name: string }[] }>(admin, 'workspace_list');
    expect(workspaces.map((entry) => entry.name)).toContain('default');
    await ok(admin, 'workspace_remove', { name: 'default' });
    expect((await ok<{ workspaces: unknown[] }>(admin, 'workspace_list')).workspaces).toEqual([]);
  });

  test('start_service supervises a service that outlives the call; tail_log shows it', async () => {
    const name = `svc-${randomBytes(3).toString('hex')}`;
    const service = await ok<{ name: string; pid: number }>(admin, 'start_service', { name, command: 'echo serving; exec sleep 300' });
    expect(service.name).toBe(name);
    const log = await waitFor(async () => {
      const tail = await ok<{ output: string; running: boolean }>(admin, 'tail_log', { name });
      return tail.output.includes('serving') ? tail : undefined;
    }, 10_000, 'the service log');
    expect(log.running).toBe(true);
    expect(await ok(admin, 'delete_app', { app_name: name })).toEqual({ success: true });
  });
});
