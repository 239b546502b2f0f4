import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, mcpClient, ok } from './helpers/mcp-client.js';
import { collect, Device } from './helpers/mqtt-device.js';
import { getApp, login, newHome, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

/**
 * Tenancy: an app or run without an explicit `permission` belongs to its owner (and admin).
 * The hostile users hold the ordinary roles: mallory `view` + `shell` (the default user),
 * eve `manage` + `view` + `shell` (an operator of another team).
 */

const WORKER = join(import.meta.dirname, 'fixtures', 'task-worker.mjs');
const PASSWORD = 'Tenant-Password-1';
const NODE = 'node-t';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let d: TestDaemon;
let mallory: string;
let eve: string;
let bob: string;
let adminMcp: Client;
let malloryMcp: Client;
let eveMcp: Client;

const names = async (token: string) => ((await (await d.request('GET', '/appmesh/applications', { token })).json()) as { name: string }[]).map((app) => app.name);
const message = async (response: Response) => ((await response.json()) as { message: string }).message;

beforeAll(async () => {
  // An app an operator placed in the apps folder by hand: it has no owner.
  const home = await newHome();
  await mkdir(join(home, 'apps'), { recursive: true });
  await writeFile(join(home, 'apps', 'orphan.yaml'), 'name: orphan\ncommand: sleep 60\nstatus: 0\n');
  d = await startTestDaemon({ home, env: { APPMESH_MQTT_NodeId: NODE } });
  const users = { mallory: ['outsiders', ['view', 'shell']], eve: ['outsiders', ['manage', 'view', 'shell']], bob: ['team', ['manage', 'view', 'shell']] } as const;
  for (const [name, [group, roles]] of Object.entries(users)) {
    expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, group, roles } })).status).toBe(200);
  }
  [mallory, eve, bob] = await Promise.all(['mallory', 'eve', 'bob'].map((name) => login(d.url, name, PASSWORD)));
  [adminMcp, malloryMcp, eveMcp] = await Promise.all([d.token, mallory, eve].map((token) => mcpClient(d.url, token)));
  expect((await d.request('PUT', '/appmesh/app/admin-svc', { body: { command: 'sleep 60', status: 0 } })).status).toBe(200);
  expect((await d.request('PUT', '/appmesh/app/bob-svc', { token: bob, body: { command: 'sleep 60' } })).status).toBe(200);
});
afterAll(async () => {
  await Promise.all([adminMcp, malloryMcp, eveMcp].map((client) => client?.close()));
  await d?.stop();
});

describe("another user's interactive run (admin's MCP run_command)", () => {
  test('mallory can neither see, read, type into, copy nor kill it', async () => {
    const started = await ok<{ status: string; handle: string }>(adminMcp, 'run_command', { command: 'cat', interactive: true, yield_ms: 0, timeout_seconds: 120 });
    expect(started.status).toBe('running');
    const handle = started.handle;

    // REST
    expect(await names(mallory)).not.toContain(handle);
    const view = await d.request('GET', `/appmesh/app/${handle}`, { token: mallory });
    expect(view.status).toBe(400);
    expect(await message(view)).toBe(`User mallory is not allowed to VIEW app ${handle}`);
    expect((await d.request('GET', `/appmesh/app/${handle}/output`, { token: mallory })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/app/run', { token: mallory, body: { name: handle } })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/app/syncrun', { token: mallory, body: { name: handle } })).status).toBe(400);
    expect((await d.request('DELETE', `/appmesh/app/${handle}`, { token: mallory })).status).toBe(400);

    // MCP
    const listed = (await ok<{ apps: { name: string }[] }>(malloryMcp, 'list_apps')).apps.map((app) => app.name);
    expect(listed).not.toContain(handle);
    for (const [tool, args] of [
      ['write_stdin', { handle, data: 'echo PWNED\n' }],
      ['read_output', { handle }],
      ['search_output', { handle, text: 'e' }],
      ['wait_run', { handle, timeout_ms: 0 }],
      ['tail_log', { name: handle }],
      ['get_app', { app_name: handle }],
      ['get_app_output', { app_name: handle }],
      ['kill_run', { handle }],
      ['run_app_async', { app: { name: handle } }],
    ] as const) {
      const result = await call(malloryMcp, tool, args);
      expect(result.isError, `${tool}: ${JSON.stringify(result.content)}`).toBe(true);
      expect(result.content[0].text).toContain('not allowed');
    }
    const resource = await malloryMcp.readResource({ uri: `appmesh://apps/${handle}/output` }).then(() => 'read', (error: Error) => error.message);
    expect(resource).toContain('not allowed');

    // The run is untouched: still running, and only its owner's input reached it.
    await ok(adminMcp, 'write_stdin', { handle, data: 'from-owner\n' });
    const seen = await ok<{ output: string; status: string }>(adminMcp, 'read_output', { handle, wait_ms: 5000 });
    expect(seen.status).toBe('running');
    expect(seen.output).toBe('from-owner\n');
    await ok(adminMcp, 'kill_run', { handle });
  });
});

describe("another user's registered app", () => {
  test('eve (manage) cannot read, control, replace, delete or copy it over REST', async () => {
    for (const [app, owner] of [['admin-svc', 'admin'], ['bob-svc', 'bob']]) {
      expect(await names(eve)).not.toContain(app);
      expect(await message(await d.request('GET', `/appmesh/app/${app}`, { token: eve }))).toBe(`User eve is not allowed to VIEW app ${app}`);
      expect((await d.request('GET', `/appmesh/app/${app}/output`, { token: eve })).status).toBe(400);
      expect(await message(await d.request('POST', `/appmesh/app/${app}/disable`, { token: eve }))).toBe(`User eve is not allowed to EDIT app ${app}`);
      expect((await d.request('POST', `/appmesh/app/${app}/enable`, { token: eve })).status).toBe(400);
      expect((await d.request('PUT', `/appmesh/app/${app}`, { token: eve, body: { command: 'id' } })).status).toBe(400);
      expect((await d.request('DELETE', `/appmesh/app/${app}`, { token: eve })).status).toBe(400);
      expect((await d.request('POST', '/appmesh/app/run', { token: eve, body: { name: app } })).status).toBe(400);
      const kept = await getApp(d, app);
      expect(kept).toMatchObject({ owner, command: 'sleep 60' });
    }
    expect(await names(bob)).toContain('bob-svc');
    expect(await names(bob)).not.toContain('admin-svc');
    expect(await names(d.token)).toEqual(expect.arrayContaining(['admin-svc', 'bob-svc']));
  });

  test('nor through the MCP tools', async () => {
    const listed = (await ok<{ apps: { name: string }[] }>(eveMcp, 'list_apps')).apps.map((app) => app.name);
    expect(listed).not.toContain('bob-svc');
    for (const [tool, args] of [
      ['get_app', { app_name: 'bob-svc' }],
      ['get_app_output', { app_name: 'bob-svc' }],
      ['disable_app', { app_name: 'bob-svc' }],
      ['enable_app', { app_name: 'bob-svc' }],
      ['delete_app', { app_name: 'bob-svc' }],
      ['add_app', { app: { name: 'bob-svc', command: 'id' } }],
      ['start_service', { name: 'bob-svc', command: 'id' }],
      ['tail_log', { name: 'bob-svc' }],
      ['run_app_sync', { app: { name: 'bob-svc' } }],
    ] as const) {
      const result = await call(eveMcp, tool, args);
      expect(result.isError, `${tool}: ${JSON.stringify(result.content)}`).toBe(true);
      expect(result.content[0].text).toContain('not allowed');
    }
    expect(await getApp(d, 'bob-svc')).toMatchObject({ owner: 'bob', command: 'sleep 60', status: 1 });
  });
});

describe('an app without an owner', () => {
  test("is admin's only", async () => {
    expect(await names(d.token)).toContain('orphan');
    expect(await names(eve)).not.toContain('orphan');
    expect(await message(await d.request('GET', '/appmesh/app/orphan', { token: eve }))).toBe('User eve is not allowed to VIEW app orphan');
    expect(await message(await d.request('POST', '/appmesh/app/orphan/enable', { token: eve }))).toBe('User eve is not allowed to EDIT app orphan');
    expect((await d.request('PUT', '/appmesh/app/orphan', { token: eve, body: { command: 'id' } })).status).toBe(400);
    expect((await d.request('DELETE', '/appmesh/app/orphan', { token: eve })).status).toBe(400);
    expect(await getApp(d, 'orphan')).toMatchObject({ command: 'sleep 60', status: 0 });
  });
});

describe("another user's tasks", () => {
  test('mallory can neither send, cancel, fetch nor answer them', async () => {
    expect((await d.request('PUT', '/appmesh/app/worker', { body: { command: `${process.execPath} ${WORKER}`, env: { DAEMON_URL: d.url }, behavior: { exit: 'restart' } } })).status).toBe(200);
    await waitFor(async () => (await getApp(d, 'worker')).task_status === 'idle', 15_000, 'the worker to wait for tasks');
    const send = await d.request('POST', '/appmesh/app/worker/task', { token: mallory, body: 'steal', headers: { 'Content-Type': 'text/plain' } });
    expect(send.status).toBe(400);
    expect(await message(send)).toBe('User mallory is not allowed to EDIT app worker');
    expect((await d.request('DELETE', '/appmesh/app/worker/task', { token: mallory })).status).toBe(400);
    expect((await call(malloryMcp, 'run_task', { app_name: 'worker', data: 'steal' })).isError).toBe(true);
    expect((await call(malloryMcp, 'cancel_task', { app_name: 'worker' })).isError).toBe(true);
    // The worker side needs the run's process key, which no token replaces.
    expect((await d.request('GET', '/appmesh/app/worker/task', { token: mallory })).status).toBe(412);
    expect((await d.request('PUT', '/appmesh/app/worker/task?process_key=guess', { token: mallory, body: 'forged' })).status).toBe(412);
    const own = await d.request('POST', '/appmesh/app/worker/task', { body: 'mine', headers: { 'Content-Type': 'text/plain' } });
    expect(await own.text()).toBe('echo:mine');
    await d.request('DELETE', '/appmesh/app/worker');
  });
});

describe("another user's events over MQTT", () => {
  test('eve cannot subscribe to them, and a subscription to every app delivers only her own', async () => {
    const url = d.daemon.mqtt!.url;
    const device = await Device.connect(url, 'eve', { username: 'eve', password: PASSWORD });
    try {
      const denied = await device.call(NODE, { http_method: 'POST', request_uri: '/appmesh/app/admin-svc/subscribe?events=START' }, eve);
      expect(denied.http_status).toBe(400);
      expect((denied.body as { message: string }).message).toBe('User eve is not allowed to VIEW app admin-svc');

      const seen = await collect(device.client, `appmesh/${NODE}/events/+/#`);
      const all = await device.call(NODE, { http_method: 'POST', request_uri: '/appmesh/subscribe?events=START' }, eve);
      expect(all.http_status).toBe(200);
      expect((await d.request('PUT', '/appmesh/app/eve-app', { token: eve, body: { command: 'sleep 60' } })).status).toBe(200);
      expect((await d.request('POST', '/appmesh/app/admin-svc/enable')).status).toBe(200);
      await waitFor(() => seen.some((m) => m.topic.includes('/eve-app/')), 10_000, "eve's own START event");
      await waitFor(async () => (await getApp(d, 'admin-svc')).pid !== undefined, 10_000, 'admin-svc to start');
      await sleep(500);
      expect(seen.map((m) => m.topic)).toEqual([`appmesh/${NODE}/events/eve-app/START`]);
    } finally {
      await device.close();
      await d.request('POST', '/appmesh/app/admin-svc/disable');
      await d.request('DELETE', '/appmesh/app/eve-app');
    }
  });
});

describe('BaseConfig.DefaultAppPermission', () => {
  test('33 (set by admin) brings back the open default; an explicit permission still holds', async () => {
    expect((await d.request('PUT', '/appmesh/app/admin-private', { body: { command: 'sleep 60', status: 0, permission: 11 } })).status).toBe(200);
    expect((await d.request('POST', '/appmesh/config', { body: { BaseConfig: { DefaultAppPermission: 33 } } })).status).toBe(200);
    try {
      expect(await names(mallory)).toEqual(expect.arrayContaining(['admin-svc', 'bob-svc', 'orphan']));
      expect(await names(mallory)).not.toContain('admin-private');
      expect((await d.request('GET', '/appmesh/app/admin-svc', { token: mallory })).status).toBe(200);
      expect((await d.request('POST', '/appmesh/app/bob-svc/disable', { token: eve })).status).toBe(200);
      expect((await d.request('POST', '/appmesh/app/bob-svc/enable', { token: eve })).status).toBe(200);
      expect((await d.request('GET', '/appmesh/app/admin-private', { token: eve })).status).toBe(400);
    } finally {
      expect((await d.request('POST', '/appmesh/config', { body: { BaseConfig: { DefaultAppPermission: 11 } } })).status).toBe(200);
    }
    expect(await names(mallory)).not.toContain('admin-svc');
  });

  test('a user with config-set cannot open everything up', async () => {
    const response = await d.request('POST', '/appmesh/config', { token: eve, body: { BaseConfig: { DefaultAppPermission: 33 } } });
    expect(response.status).toBe(400);
    expect(await message(response)).toBe('Only admin may change BaseConfig.DefaultAppPermission');
    expect(await names(mallory)).not.toContain('admin-svc');
  });
});
