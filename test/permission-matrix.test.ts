import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ALL_PERMISSIONS } from '../src/auth/permissions.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * One row per protected endpoint: the permission it needs, how to prepare the state it acts on,
 * and the call. Each row runs twice with the same user: once with a role holding every
 * permission but that one (refused, nothing changes), once holding all of them (200).
 */
interface Row {
  permission: string;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
  prepare?: (d: TestDaemon) => Promise<void>;
  /** The call revokes the caller's token (password change, renew): log in again after. */
  revokesToken?: boolean;
}

const PROBE = 'probe';
const PROBE_PASSWORD = 'Probe-Password-1';
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Admin's app, opened to everyone (33): the rows test the permission, not the owner's ACL. */
const ensureApp = (name: string, body: Record<string, unknown> = { command: 'sleep 60' }) => async (d: TestDaemon) => {
  if ((await d.request('GET', `/appmesh/app/${name}`)).status !== 200) await d.request('PUT', `/appmesh/app/${name}`, { body: { ...body, name, permission: 33 } });
};
const ensureUser = (name: string) => async (d: TestDaemon) => {
  if ((await d.request('GET', '/appmesh/users').then((r) => r.json()) as Record<string, unknown>)[name]) return;
  await d.request('PUT', `/appmesh/user/${name}`, { body: { key: 'Victim-Password-1', group: 'victims', roles: [] } });
};
const ensureRole = (name: string) => async (d: TestDaemon) => void (await d.request('POST', `/appmesh/role/${name}`, { body: ['app-view'] }));

const ROWS: Row[] = [
  { permission: 'app-view-all', method: 'GET', path: '/appmesh/applications' },
  { permission: 'app-view', method: 'GET', path: '/appmesh/app/target', prepare: ensureApp('target') },
  { permission: 'app-output-view', method: 'GET', path: '/appmesh/app/finished/output', prepare: ensureApp('finished', { command: 'echo out' }) },
  { permission: 'app-reg', method: 'PUT', path: '/appmesh/app/created', body: { command: 'sleep 60' } },
  { permission: 'app-control', method: 'POST', path: '/appmesh/app/target/disable', prepare: ensureApp('target') },
  { permission: 'app-delete', method: 'DELETE', path: '/appmesh/app/doomed', prepare: ensureApp('doomed') },
  { permission: 'app-run-async', method: 'POST', path: '/appmesh/app/run', body: { name: 'async-run', command: 'true' } },
  { permission: 'app-run-sync', method: 'POST', path: '/appmesh/app/syncrun', body: { command: 'true' } },
  { permission: 'user-list', method: 'GET', path: '/appmesh/users' },
  { permission: 'user-add', method: 'PUT', path: '/appmesh/user/newbie', body: { key: 'Newbie-Password-1', group: 'g' } },
  { permission: 'user-delete', method: 'DELETE', path: '/appmesh/user/victim', prepare: ensureUser('victim') },
  { permission: 'user-lock', method: 'POST', path: '/appmesh/user/victim/lock', prepare: ensureUser('victim') },
  { permission: 'user-unlock', method: 'POST', path: '/appmesh/user/victim/unlock', prepare: async (d) => {
    await ensureUser('victim')(d);
    await d.request('POST', '/appmesh/user/victim/lock');
  } },
  { permission: 'passwd-change-user', method: 'POST', path: '/appmesh/user/victim/passwd', prepare: ensureUser('victim'),
    body: { old_password: b64('Victim-Password-1'), new_password: b64('Victim-Password-1') } },
  { permission: 'passwd-change-self', method: 'POST', path: '/appmesh/user/self/passwd', revokesToken: true,
    body: { old_password: b64(PROBE_PASSWORD), new_password: b64(PROBE_PASSWORD) } },
  { permission: 'role-view', method: 'GET', path: '/appmesh/roles' },
  { permission: 'role-set', method: 'POST', path: '/appmesh/role/made', body: ['app-view'] },
  { permission: 'role-delete', method: 'DELETE', path: '/appmesh/role/unwanted', prepare: ensureRole('unwanted') },
  { permission: 'permission-list', method: 'GET', path: '/appmesh/permissions' },
  { permission: 'user-totp-active', method: 'POST', path: '/appmesh/totp/secret' },
  { permission: 'user-totp-disable', method: 'POST', path: '/appmesh/totp/self/disable' },
  { permission: 'user-token-renew', method: 'POST', path: '/appmesh/token/renew', revokesToken: true },
];

let d: TestDaemon;
let probeToken: string;

beforeAll(async () => {
  d = await startTestDaemon();
  await d.request('POST', '/appmesh/role/probe-role', { body: ALL_PERMISSIONS });
  await d.request('PUT', `/appmesh/user/${PROBE}`, { body: { key: PROBE_PASSWORD, group: 'probes', roles: ['probe-role'] } });
  probeToken = await login(d.url, PROBE, PROBE_PASSWORD);
});
afterAll(async () => {
  await d.stop();
});

/** Everything a denied call could have changed, seen by admin. */
async function snapshot(): Promise<string> {
  const [apps, users, roles] = await Promise.all(['/appmesh/applications?include_finished_runs=true', '/appmesh/users', '/appmesh/roles'].map(async (path) => d.request('GET', path).then((r) => r.json())));
  const appState = (apps as Record<string, unknown>[]).map((app) => [app.name, app.status]).sort();
  const userState = Object.entries(users as Record<string, Record<string, unknown>>).map(([name, user]) => [name, user.locked, user.token_epoch, user.mfa_enabled]);
  const { 'probe-role': _probe, ...otherRoles } = roles as Record<string, string[]>;
  return JSON.stringify({ appState, userState, otherRoles });
}

async function grant(permissions: readonly string[]): Promise<void> {
  const response = await d.request('POST', '/appmesh/role/probe-role', { body: permissions });
  expect(response.status).toBe(200);
}

describe('permission matrix', () => {
  test('every permission of the vocabulary that guards an endpoint is in the table', () => {
    const guarded = new Set(ROWS.map((row) => row.permission));
    // app-subscribe (TCP/WSS), file-*, label-*, config-*, host-resource-view and app-run-task
    // guard endpoints that other areas own and test (request-forward: X-Target-Host, relay.test.ts);
    // app-run-async-output guards none.
    const elsewhere = ['app-subscribe', 'file-download', 'file-upload', 'label-view', 'label-set', 'label-delete', 'config-view', 'config-set', 'host-resource-view', 'app-run-task', 'app-run-async-output', 'request-forward'];
    expect([...ALL_PERMISSIONS].filter((permission) => !guarded.has(permission) && !elsewhere.includes(permission))).toEqual([]);
  });

  test.each(ROWS.map((row) => [`${row.method} ${row.path} needs ${row.permission}`, row] as const))('%s', async (_name, row) => {
    await row.prepare?.(d);
    await grant(ALL_PERMISSIONS.filter((permission) => permission !== row.permission));
    const before = await snapshot();
    const denied = await d.request(row.method, row.path, { token: probeToken, body: row.body, headers: row.headers });
    expect(denied.status, `without ${row.permission}`).not.toBe(200);
    expect(denied.status).toBeLessThan(500);
    expect(((await denied.json()) as { message: string }).message).toContain(row.permission);
    expect(await snapshot()).toBe(before);

    await grant(ALL_PERMISSIONS);
    const allowed = await d.request(row.method, row.path, { token: probeToken, body: row.body, headers: row.headers });
    expect(allowed.status, `with ${row.permission}: ${await allowed.clone().text()}`).toBe(200);
    if (row.revokesToken) probeToken = await login(d.url, PROBE, PROBE_PASSWORD);
  });
});
