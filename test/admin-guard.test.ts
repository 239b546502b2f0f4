import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALL_PERMISSIONS, DEFAULT_ROLES } from '../src/auth/permissions.js';
import { call, mcpClient } from './helpers/mcp-client.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * What only admin may do: change the keys of trust, limits and listening, and change admin.
 * The hostile users hold real roles: `config-set` (manage) or `usermgr`.
 */

const PASSWORD = 'Guard-Password-1';
const b64 = (text: string) => Buffer.from(text).toString('base64');

let d: TestDaemon;
let operator: string;
let manager: string;

const message = async (response: Response) => ((await response.json()) as { message: string }).message;
const configFile = () => readFile(join(d.home, 'config', 'config.yaml'), 'utf8');
const usersView = async () => (await (await d.request('GET', '/appmesh/users')).json()) as Record<string, { roles: string[]; locked: boolean; group: string }>;

beforeAll(async () => {
  d = await startTestDaemon();
  expect((await d.request('PUT', '/appmesh/user/operator', { body: { key: PASSWORD, group: 'ops', roles: ['manage', 'view'] } })).status).toBe(200);
  expect((await d.request('PUT', '/appmesh/user/manager', { body: { key: PASSWORD, group: 'people', roles: ['usermgr', 'view'] } })).status).toBe(200);
  [operator, manager] = await Promise.all(['operator', 'manager'].map((name) => login(d.url, name, PASSWORD)));
});
afterAll(async () => {
  await d?.stop();
});

describe('trust, limit and listening keys are admin-only', () => {
  test.each([
    ['BaseConfig.WorkingDirectory', { BaseConfig: { WorkingDirectory: '/tmp/elsewhere' } }],
    ['BaseConfig.DynamicUserIdMin', { BaseConfig: { DynamicUserIdMin: 1000 } }],
    ['BaseConfig.DynamicUserIdMax', { BaseConfig: { DynamicUserIdMax: 70000 } }],
    ['BaseConfig.DefaultSandbox', { BaseConfig: { DefaultSandbox: 'isolated' } }],
    ['REST.RestListenAddress', { REST: { RestListenAddress: '0.0.0.0' } }],
    ['REST.RestListenPort', { REST: { RestListenPort: 7070 } }],
    ['REST.RestEnabled', { REST: { RestEnabled: false } }],
    ['REST.SSL', { REST: { SSL: { VerifyClient: true } } }],
    ['REST.PrometheusExporterListenPort', { REST: { PrometheusExporterListenPort: 9100 } }],
    ['Limits', { Limits: { MaxRunsPerUser: 100000 } }],
    ['Limits', { Limits: { RequestBodyLimitBytes: 1 << 30 } }],
    ['Limits', { Limits: { MaxConcurrentRuns: 1, MaxAppsPerUser: 1 } }],
    ['MQTT', { MQTT: { EmbeddedBrokerAddress: '0.0.0.0' } }],
    ['MQTT', { MQTT: { EmbeddedBrokerPort: 11883 } }],
    ['MQTT', { MQTT: { Username: 'someone', Password: 'secret' } }],
    ['MQTT', { MQTT: { TelemetryUser: 'admin' } }],
    ['MQTT', { MQTT: { MaxPayloadBytes: 1 << 30 } }],
  ])('a config-set holder cannot change %s (%j); nothing changes on disk', async (key, patch) => {
    const before = await configFile();
    const refused = await d.request('POST', '/appmesh/config', { token: operator, body: patch });
    expect(refused.status).toBe(400);
    expect(await message(refused)).toBe(`Only admin may change ${key}`);
    expect(await configFile()).toBe(before);
  });

  test('nor through the MCP set_config tool; admin can', async () => {
    const client = await mcpClient(d.url, operator);
    try {
      const result = await call(client, 'set_config', { config: { Limits: { MaxRunsPerUser: 1000 } } });
      expect(result.isError).toBe(true);
      expect(result.content[0].text).toContain('Only admin may change Limits');
    } finally {
      await client.close();
    }
    expect((await d.request('POST', '/appmesh/config', { body: { Limits: { MaxRunsPerUser: 5 } } })).status).toBe(200);
    expect(await configFile()).toContain('MaxRunsPerUser: 5');
  });

  test('the running document sent back whole by a config-set holder is no change of those keys', async () => {
    const whole = (await (await d.request('GET', '/appmesh/config', { token: operator })).json()) as { BaseConfig: { LogLevel: string } };
    whole.BaseConfig.LogLevel = 'WARN';
    expect((await d.request('POST', '/appmesh/config', { token: operator, body: whole })).status).toBe(200);
    expect(await configFile()).toContain('LogLevel: WARN');
  });
});

describe('a user manager cannot take over or lock out admin', () => {
  test("admin's roles, lock, password and record are admin's own", async () => {
    const stripped = await d.request('PUT', '/appmesh/user/admin', { token: manager, body: { group: 'admin', roles: [] } });
    expect(stripped.status).toBe(400);
    expect(await message(stripped)).toBe('Only admin may change user admin');
    expect((await d.request('POST', '/appmesh/user/admin/lock', { token: manager })).status).toBe(400);
    expect((await d.request('DELETE', '/appmesh/user/admin', { token: manager })).status).toBe(400);
    const password = await d.request('POST', '/appmesh/user/admin/passwd', { token: manager, body: { old_password: b64('guess'), new_password: b64('Taken-Over-1') } });
    expect(password.status).toBe(400);
    expect(await message(password)).toBe('Only admin may change the password of user admin');
    expect((await usersView()).admin).toMatchObject({ roles: ['manage', 'view', 'shell', 'usermgr'], locked: false });
  });

  test('it cannot give itself or others roles it does not hold, nor put anyone into admin\'s group', async () => {
    const raise = await d.request('PUT', '/appmesh/user/manager', { token: manager, body: { group: 'people', roles: ['usermgr', 'view', 'manage'] } });
    expect(raise.status).toBe(400);
    expect(await message(raise)).toMatch(/^Permission denied: user 'manager' cannot grant permission '.+' it does not hold$/);
    expect((await d.request('PUT', '/appmesh/user/helper', { token: manager, body: { key: PASSWORD, group: 'people', roles: ['shell'] } })).status).toBe(400);
    const ghost = await d.request('PUT', '/appmesh/user/manager', { token: manager, body: { group: 'people', roles: ['usermgr', 'view', 'ghost'] } });
    expect(await message(ghost)).toBe('Role ghost does not exist');
    const joined = await d.request('PUT', '/appmesh/user/manager', { token: manager, body: { group: 'admin', roles: ['usermgr', 'view'] } });
    expect(await message(joined)).toBe('Only admin may put a user into group admin');
    expect((await usersView()).manager).toMatchObject({ roles: ['usermgr', 'view'], group: 'people' });
    expect((await usersView()).helper).toBeUndefined();
    // What it holds it may give.
    expect((await d.request('PUT', '/appmesh/user/helper', { token: manager, body: { key: PASSWORD, group: 'people', roles: ['view'] } })).status).toBe(200);
  });

  test('it cannot raise a role past its own permissions; removing is its job', async () => {
    const raised = await d.request('POST', '/appmesh/role/usermgr', { token: manager, body: [...DEFAULT_ROLES.usermgr, 'app-delete'] });
    expect(raised.status).toBe(400);
    expect(await message(raised)).toBe("Permission denied: user 'manager' cannot grant permission 'app-delete' it does not hold");
    expect((await d.request('POST', '/appmesh/role/helpers', { token: manager, body: ['app-reg'] })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/role/helpers', { token: manager, body: ['user-list', 'app-view'] })).status).toBe(200);
    const roles = (await (await d.request('GET', '/appmesh/roles')).json()) as Record<string, string[]>;
    expect(roles.usermgr).toEqual([...DEFAULT_ROLES.usermgr]);

    // Emptying the roles admin holds does not lock admin out.
    expect((await d.request('DELETE', '/appmesh/role/view', { token: manager })).status).toBe(200);
    for (const role of ['manage', 'shell', 'usermgr']) expect((await d.request('POST', `/appmesh/role/${role}`, { token: manager, body: [] })).status).toBe(200);
    const held = (await (await d.request('GET', '/appmesh/user/permissions')).json()) as string[];
    expect(held).toEqual([...ALL_PERMISSIONS]);
    expect((await d.request('PUT', '/appmesh/app/still-admin', { body: { command: 'true', status: 0 } })).status).toBe(200);
    expect((await d.request('POST', '/appmesh/role/manage', { body: DEFAULT_ROLES.manage })).status).toBe(200);
  });
});
