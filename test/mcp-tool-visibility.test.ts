import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALL_TOOLS } from '../tools/mcp-server.js';
import { call, mcpClient } from './helpers/mcp-client.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// tools/list shows a caller the tools it can use; a tool it cannot use, called by name anyway,
// is refused with the permission it lacks.
let d: TestDaemon;
let viewer: Client;
let viewerPermissions: string[];

beforeAll(async () => {
  d = await startTestDaemon();
  expect((await d.request('PUT', '/appmesh/user/viewer', { body: { key: 'Viewer-Password-1', group: 'viewers', roles: ['view'] } })).status).toBe(200);
  const token = await login(d.url, 'viewer', 'Viewer-Password-1');
  viewerPermissions = (await (await d.request('GET', '/appmesh/user/permissions', { token })).json()) as string[];
  viewer = await mcpClient(d.url, token);
});
afterAll(async () => {
  await viewer?.close();
  await d?.stop();
});

describe('MCP tools of a view-only user', () => {
  test('tools that change apps, run commands or write files are not listed', async () => {
    const names = (await viewer.listTools()).tools.map((tool) => tool.name);
    expect(names).toContain('list_apps');
    expect(names).toContain('get_app_output');
    for (const hidden of ['delete_app', 'add_app', 'enable_app', 'disable_app', 'run_command', 'run_app_sync', 'start_service', 'write_file', 'read_file', 'set_config']) {
      expect(names, hidden).not.toContain(hidden);
    }
    // Every listed tool names only permissions the caller holds.
    for (const name of names) {
      const tool = ALL_TOOLS.find((candidate) => candidate.name === name)!;
      expect(tool.permissions.filter((permission) => !viewerPermissions.includes(permission)), name).toEqual([]);
    }
  });

  test('an unlisted tool called by name is refused naming the missing permission', async () => {
    await d.request('PUT', '/appmesh/app/kept', { body: { command: 'sleep 60' } });
    for (const [name, args, permission] of [
      ['delete_app', { app_name: 'kept' }, 'app-delete'],
      ['run_app_sync', { command: 'id' }, 'app-run-sync'],
      ['write_file', { path: '/tmp/x', content: 'x' }, 'file-upload'],
    ] as const) {
      const refused = await call(viewer, name, args);
      expect(refused.isError, name).toBe(true);
      expect(refused.content[0].text, name).toMatch(new RegExp(`permission.*${permission}`));
    }
    expect((await d.request('GET', '/appmesh/app/kept')).status).toBe(200);
  });
});

describe('the tool documentation', () => {
  test('tools/README.md and the README name every tool the server registers', async () => {
    const root = join(import.meta.dirname, '..');
    const [tools, readme] = await Promise.all([readFile(join(root, 'tools', 'README.md'), 'utf8'), readFile(join(root, 'README.md'), 'utf8')]);
    expect(ALL_TOOLS.map((tool) => tool.name).filter((name) => !tools.includes(`\`${name}\``))).toEqual([]);
    // The README lists the agent and file tools; App Mesh's own are summarised there.
    const summarised = new Set(['list_apps', 'get_app', 'add_app', 'delete_app', 'enable_app', 'disable_app', 'check_app_health', 'get_app_output', 'run_app_sync', 'run_app_async', 'run_task', 'cancel_task', 'get_host_resources', 'get_metrics', 'get_config', 'set_config', 'set_log_level', 'list_labels', 'add_label', 'delete_label', 'get_current_user', 'list_users', 'add_user', 'delete_user', 'lock_user', 'unlock_user', 'list_groups', 'list_permissions', 'get_user_permissions', 'list_roles', 'update_role', 'delete_role', 'update_password', 'get_totp_secret', 'enable_totp', 'disable_totp']);
    expect(ALL_TOOLS.map((tool) => tool.name).filter((name) => !summarised.has(name) && !readme.includes(`\`${name}\``))).toEqual([]);
  });
});
