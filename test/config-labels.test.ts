import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { AppMeshClient } from 'appmesh';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ env: { APPMESH_BaseConfig_Description: 'from-env' } });
});
afterAll(async () => {
  await d.stop();
});

type Config = { BaseConfig: Record<string, unknown>; REST: { RestListenPort: number; JWT: { JWTSalt: string } }; Labels: Record<string, string>; Version: string };
const getConfig = async () => (await (await d.request('GET', '/appmesh/config')).json()) as Config;
const configFile = () => readFile(join(d.home, 'config', 'config.yaml'), 'utf8');

describe('configuration', () => {
  test('GET masks the JWT secret and shows the running values', async () => {
    const config = await getConfig();
    expect(config.REST.JWT.JWTSalt).toBe('*****');
    expect(config.BaseConfig.Description).toBe('from-env');
    expect(config.Version).toBe('2.2.1');
    expect(await configFile()).not.toContain('*****');
  });

  test('POST merges, applies, saves, and survives a restart; the environment still wins', async () => {
    const response = await d.request('POST', '/appmesh/config', { body: { BaseConfig: { LogLevel: 'debug', Description: 'from-patch' } } });
    expect(response.status).toBe(200);
    const updated = (await response.json()) as Config;
    expect(updated.BaseConfig.LogLevel).toBe('DEBUG');
    expect(updated.BaseConfig.Description).toBe('from-env');
    expect(updated.REST.JWT.JWTSalt).toBe('*****');
    expect(await configFile()).toContain('LogLevel: DEBUG');
    await d.restart();
    expect((await getConfig()).BaseConfig.LogLevel).toBe('DEBUG');
  });

  test('sending back the whole masked document keeps the secret (tokens stay valid)', async () => {
    const config = await getConfig();
    config.BaseConfig.LogLevel = 'INFO';
    expect((await d.request('POST', '/appmesh/config', { body: config })).status).toBe(200);
    const before = d.token;
    await d.restart();
    expect((await d.request('GET', '/appmesh/applications', { token: before })).status).toBe(200);
  });

  test.each([
    ['a string port', { REST: { RestListenPort: 'abc' } }],
    ['a port out of range', { REST: { RestListenPort: 70000 } }],
    ['an unknown log level', { BaseConfig: { LogLevel: 'LOUD' } }],
    ['an unknown JWT algorithm', { REST: { JWT: { Algorithm: 'none' } } }],
    ['a boolean of the wrong type', { REST: { CorsDisabled: 'yes' } }],
    ['an array', [1, 2]],
  ])('an invalid patch (%s) is 400 and changes nothing', async (_label, patch) => {
    const [beforeView, beforeFile] = [await getConfig(), await configFile()];
    const response = await d.request('POST', '/appmesh/config', { body: patch });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toBeTruthy();
    expect(await getConfig()).toEqual(beforeView);
    expect(await configFile()).toBe(beforeFile);
  });
});

describe('keys only admin may change', () => {
  test('a config-set user cannot change who runs as whom, but can send the whole document back', async () => {
    const { login } = await import('./helpers/test-daemon.js');
    await d.request('PUT', '/appmesh/user/operator', { body: { key: 'Operator-Pass-1', group: 'ops', roles: ['manage', 'view'] } });
    const token = await login(d.url, 'operator', 'Operator-Pass-1');
    for (const patch of [{ BaseConfig: { DisableExecUser: true } }, { BaseConfig: { DefaultExecUser: 'root' } }, { REST: { FileAllowedBaseDir: '/' } }, { REST: { JWT: { JWTSalt: 'x'.repeat(40) } } }]) {
      const refused = await d.request('POST', '/appmesh/config', { token, body: patch });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { message: string }).message).toMatch(/Only admin may change/);
    }
    const whole = await getConfig();
    whole.BaseConfig.LogLevel = 'NOTICE';
    expect((await d.request('POST', '/appmesh/config', { token, body: whole })).status).toBe(200);
    expect((await getConfig()).BaseConfig.LogLevel).toBe('NOTICE');
    expect((await d.request('POST', '/appmesh/config', { body: { BaseConfig: { DefaultExecUser: '' } } })).status).toBe(200);
  });
});

describe('labels', () => {
  test('host labels are set automatically', async () => {
    const labels = (await (await d.request('GET', '/appmesh/labels')).json()) as Record<string, string>;
    expect(labels.HOST_NAME).toBe(hostname());
    expect(labels.arch).toBeTruthy();
    expect(labels.os_version).toBeTruthy();
  });

  test('add, persist, delete', async () => {
    const added = await d.request('PUT', '/appmesh/label/zone?value=eu-1');
    expect(await added.json()).toEqual({ message: 'Add label success' });
    await d.restart();
    expect(((await (await d.request('GET', '/appmesh/labels')).json()) as Record<string, string>).zone).toBe('eu-1');
    expect((await getConfig()).Labels.zone).toBe('eu-1');
    const deleted = await d.request('DELETE', '/appmesh/label/zone');
    expect(await deleted.json()).toEqual({ message: 'Label delete success' });
    expect(((await (await d.request('GET', '/appmesh/labels')).json()) as Record<string, string>).zone).toBeUndefined();
    expect((await d.request('DELETE', '/appmesh/label/never-there')).status).toBe(200);
  });

  test('a missing value or a bad name is 400', async () => {
    expect((await d.request('PUT', '/appmesh/label/zone')).status).toBe(400);
    expect((await d.request('PUT', '/appmesh/label/bad%20name?value=1')).status).toBe(400);
  });

  test('the npm client: config, log level and labels', async () => {
    const client = new AppMeshClient(d.url);
    await client.login('admin', ADMIN_PASSWORD);
    expect((await client.get_config()).REST.JWT.JWTSalt).toBe('*****');
    expect(await client.set_log_level('WARN')).toBe('WARN');
    expect(await client.add_label('rack', '42')).toBe(true);
    expect((await client.list_labels()).rack).toBe('42');
    expect(await client.delete_label('rack')).toBe(true);
    expect((await client.list_labels()).rack).toBeUndefined();
  });
});
