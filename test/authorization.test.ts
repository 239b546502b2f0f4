import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { hashPassword } from '../src/auth/password.js';
import { DEFAULT_ROLES } from '../src/auth/permissions.js';
import { ADMIN_PASSWORD, login, newHome, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Until user management lands in the API, the extra users are written into the store first.
let d: TestDaemon;
let viewer: string;
let operator: string;
let outsider: string;

beforeAll(async () => {
  const home = await newHome();
  const user = async (group: string, roles: string[]) => ({ group, roles, key: await hashPassword('pw-of-user') });
  await mkdir(join(home, 'config'), { recursive: true });
  await writeFile(
    join(home, 'config', 'security.yaml'),
    stringify({
      EncryptKey: true,
      Users: {
        admin: { group: 'admin', roles: ['manage', 'view', 'shell', 'usermgr'], key: await hashPassword(ADMIN_PASSWORD) },
        viewer: await user('team', ['view']),
        operator: await user('team', ['manage', 'view', 'shell']),
        outsider: await user('other', ['manage', 'view', 'shell']),
      },
      Roles: DEFAULT_ROLES,
    }),
  );
  d = await startTestDaemon({ home });
  viewer = await login(d.url, 'viewer', 'pw-of-user');
  operator = await login(d.url, 'operator', 'pw-of-user');
  outsider = await login(d.url, 'outsider', 'pw-of-user');
});
afterAll(async () => {
  await d.stop();
});

describe('permissions', () => {
  test('a user lacking a permission gets 400 and nothing changes', async () => {
    const register = await d.request('PUT', '/appmesh/app/denied', { token: viewer, body: { command: 'true' } });
    expect(register.status).toBe(400);
    expect(await register.json()).toEqual({ message: "Permission denied: user 'viewer' lacks required permission 'app-reg'" });
    expect((await d.request('GET', '/appmesh/app/denied')).status).toBe(404);
    expect((await d.request('POST', '/appmesh/app/syncrun', { token: viewer, body: { command: 'true' } })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/app/run', { token: viewer, body: { command: 'true' } })).status).toBe(400);
  });

  test('a user holding the permission succeeds, and owns what it registers', async () => {
    const response = await d.request('PUT', '/appmesh/app/op-app', { token: operator, body: { command: 'sleep 30', owner: 'admin' } });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { owner: string }).owner).toBe('operator');
    await d.request('DELETE', '/appmesh/app/op-app', { token: operator });
  });
});

describe('exec_user', () => {
  test('only admin sets the OS account a user runs as; a user manager can still round-trip a user', async () => {
    await d.request('POST', '/appmesh/role/usermgr-only', { body: ['user-add', 'user-list'] });
    await d.request('PUT', '/appmesh/user/manager', { body: { key: 'Manager-Pass-1', group: 'm', roles: ['usermgr-only'] } });
    const manager = await login(d.url, 'manager', 'Manager-Pass-1');
    const escalate = await d.request('PUT', '/appmesh/user/manager', { token: manager, body: { group: 'm', roles: ['usermgr-only'], exec_user: 'root' } });
    expect(escalate.status).toBe(400);
    expect(((await escalate.json()) as { message: string }).message).toBe('Only admin may set exec_user');
    const listed = ((await (await d.request('GET', '/appmesh/users', { token: manager })).json()) as Record<string, Record<string, unknown>>).viewer;
    const { name: _name, ...roundTrip } = listed;
    expect((await d.request('PUT', '/appmesh/user/viewer', { token: manager, body: roundTrip })).status).toBe(200);
  });
});

describe('app ACL (owner, group, permission digits)', () => {
  test('a private app (11) is invisible and untouchable for others, visible to admin', async () => {
    expect((await d.request('PUT', '/appmesh/app/private', { token: operator, body: { command: 'sleep 30', permission: 11 } })).status).toBe(200);
    const listOf = async (token: string) => ((await (await d.request('GET', '/appmesh/applications', { token })).json()) as { name: string }[]).map((app) => app.name);
    expect(await listOf(outsider)).not.toContain('private');
    expect(await listOf(viewer)).not.toContain('private');
    expect(await listOf(d.token)).toContain('private');
    const denied = await d.request('GET', '/appmesh/app/private', { token: outsider });
    expect(denied.status).toBe(400);
    expect(await denied.json()).toEqual({ message: 'User outsider is not allowed to VIEW app private' });
    expect((await d.request('GET', '/appmesh/app/private/output', { token: outsider })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/app/private/disable', { token: outsider })).status).toBe(400);
    expect((await d.request('DELETE', '/appmesh/app/private', { token: outsider })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/app/syncrun', { token: outsider, body: { name: 'private' } })).status).toBe(400);
    expect((await d.request('GET', '/appmesh/app/private')).status).toBe(200);
    await d.request('DELETE', '/appmesh/app/private', { token: operator });
  });

  test("a run copied from another user's app does not inherit its sec_env", async () => {
    const body = { command: 'printenv SECRET_TOKEN', sec_env: { SECRET_TOKEN: 'owner-only-value' }, permission: 22, status: 0 };
    expect((await d.request('PUT', '/appmesh/app/with-secret', { token: operator, body })).status).toBe(200);
    const byOwner = await d.request('POST', '/appmesh/app/syncrun', { token: operator, body: { name: 'with-secret' } });
    expect(await byOwner.text()).toBe('owner-only-value\n');
    const byReader = await d.request('POST', '/appmesh/app/syncrun', { token: outsider, body: { name: 'with-secret' } });
    expect(byReader.status).toBe(200);
    expect(await byReader.text()).not.toContain('owner-only-value');
    await d.request('DELETE', '/appmesh/app/with-secret', { token: operator });
  });

  test('group read (12): the group reads but cannot write; other groups see nothing', async () => {
    expect((await d.request('PUT', '/appmesh/app/shared', { token: operator, body: { command: 'sleep 30', permission: 12 } })).status).toBe(200);
    expect((await d.request('GET', '/appmesh/app/shared', { token: viewer })).status).toBe(200);
    expect((await d.request('GET', '/appmesh/app/shared', { token: outsider })).status).toBe(400);
    const write = await d.request('POST', '/appmesh/app/shared/disable', { token: viewer });
    expect(write.status).toBe(400);
    await d.request('DELETE', '/appmesh/app/shared', { token: operator });
  });
});
