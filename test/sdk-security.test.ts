// Users, roles, passwords, TOTP and token lifecycle through the official `appmesh` npm client,
// unchanged, against a real daemon (security.md §1–5, rest-api.md §2–4 and §7).
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { AppMeshClient, AppMeshError } from 'appmesh';
import { generate } from 'otplib';
import { quietSdkErrors } from './helpers/sdk-client.js';
import { ADMIN_PASSWORD, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let daemon: TestDaemon;
let admin: AppMeshClient;
const users = new Set<string>();
const apps = new Set<string>();

/** Adds a user as admin (remembered for cleanup). */
async function addUser(name: string, password: string, roles: string[], extra: Record<string, unknown> = {}): Promise<boolean> {
  users.add(name);
  return admin.add_user(name, { key: password, roles, ...extra });
}

async function loggedIn(user: string, password: string, totpCode?: string): Promise<AppMeshClient> {
  const client = new AppMeshClient(daemon.url);
  await client.login(user, password, totpCode);
  return client;
}

async function rejection(promise: Promise<unknown>, statusCode: number): Promise<AppMeshError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AppMeshError);
  expect((error as AppMeshError).statusCode).toBe(statusCode);
  return error as AppMeshError;
}

/** The access token the client echoes back in its Cookie header. */
function sessionToken(client: AppMeshClient): string {
  const cookie = String(client._client.defaults.headers.Cookie ?? '');
  const part = cookie.split(';').map((p) => p.trim()).find((p) => p.startsWith('appmesh_auth_token='));
  const token = part?.slice('appmesh_auth_token='.length) ?? '';
  expect(token.length).toBeGreaterThan(0);
  return token;
}

async function bearerStatus(token: string): Promise<number> {
  const response = await fetch(`${daemon.url}/appmesh/applications`, { headers: { Authorization: `Bearer ${token}` } });
  return response.status;
}

function totpSecret(uri: string): string {
  expect(uri).toMatch(/^otpauth:\/\/totp\/.+secret=/);
  const secret = new URL(uri).searchParams.get('secret');
  expect(secret).toMatch(/^[A-Z2-7]+$/);
  return secret!;
}

/** Code of the current 30 s step, or of the next one (the daemon accepts both; each step works once). */
async function totp(secret: string, next = false): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + (next ? 30 : 0) });
}

beforeAll(async () => {
  quietSdkErrors();
  daemon = await startTestDaemon();
  admin = await loggedIn('admin', ADMIN_PASSWORD);
});

afterAll(async () => {
  if (admin) {
    for (const app of apps) await admin.delete_app(app).catch(() => undefined);
    for (const user of users) await admin.delete_user(user).catch(() => undefined);
    await admin.delete_role('ops').catch(() => undefined);
  }
  await daemon?.stop();
  vi.restoreAllMocks();
});

describe('appmesh npm client: security', () => {
  test('users: add, list, self, permission denial, lock/unlock, delete, groups', async () => {
    expect(await admin.add_user('alice', { key: 'Alice-Pass-1', group: 'dev', roles: ['view'], email: 'a@x' })).toBe(true);
    users.add('alice');

    const listed = await admin.list_users();
    expect(listed.alice).toMatchObject({ name: 'alice', group: 'dev', roles: ['view'], email: 'a@x', locked: false, mfa_enabled: false });
    expect(listed.alice).not.toHaveProperty('key');
    expect(listed.alice).not.toHaveProperty('mfa_key');
    expect(listed.alice).toHaveProperty('exec_user');
    for (const user of Object.values(listed)) expect(user).not.toHaveProperty('key');

    const alice = await loggedIn('alice', 'Alice-Pass-1');
    const self = await alice.get_current_user();
    expect(self.name).toBe('alice');
    expect(Array.isArray(self.audience)).toBe(true);
    expect(self.audience).toContain('appmesh-service');
    expect(self).not.toHaveProperty('key');

    // `view` lacks app-reg: RBAC denial is 400.
    apps.add('sdk-sec-alice');
    await rejection(alice.add_app('sdk-sec-alice', { command: 'sleep 30' }), 400);

    expect(await admin.list_groups()).toEqual(expect.arrayContaining(['admin', 'dev']));

    expect(await admin.lock_user('alice')).toBe(true);
    expect((await admin.list_users()).alice.locked).toBe(true);
    await rejection(alice.list_apps(), 401); // the existing session is dead
    await rejection(loggedIn('alice', 'Alice-Pass-1'), 401);

    expect(await admin.unlock_user('alice')).toBe(true);
    const again = await loggedIn('alice', 'Alice-Pass-1');
    expect(Array.isArray(await again.list_apps())).toBe(true);

    await rejection(admin.lock_user('admin'), 400);
    expect(Array.isArray(await admin.list_apps())).toBe(true); // admin unaffected

    expect(await admin.delete_user('alice')).toBe(true);
    users.delete('alice');
    expect(Object.keys(await admin.list_users())).not.toContain('alice');
    await rejection(loggedIn('alice', 'Alice-Pass-1'), 401);
    const groups = await admin.list_groups();
    expect(groups).toContain('admin');
    expect(groups).not.toContain('dev');
  });

  test('roles: create, list, permissions, live update for existing sessions, delete', async () => {
    expect(await admin.update_role('ops', ['app-view', 'app-view-all'])).toBe(true);
    expect((await admin.list_roles()).ops).toEqual(expect.arrayContaining(['app-view', 'app-view-all']));
    expect((await admin.list_roles()).ops).toHaveLength(2);
    expect(await admin.list_permissions()).toContain('app-view');

    expect(await addUser('carol', 'Carol-Pass-1', ['ops'])).toBe(true);
    const carol = await loggedIn('carol', 'Carol-Pass-1');
    expect([...(await carol.get_user_permissions())].sort()).toEqual(['app-view', 'app-view-all']);
    apps.add('sdk-sec-carol');
    await rejection(carol.add_app('sdk-sec-carol', { command: 'sleep 30' }), 400);

    expect(await admin.update_role('ops', ['app-view', 'app-view-all', 'app-reg'])).toBe(true);
    // Same session, no re-login: the new permission applies at once.
    expect([...(await carol.get_user_permissions())].sort()).toEqual(['app-reg', 'app-view', 'app-view-all']);
    expect(await carol.add_app('sdk-sec-carol', { command: 'sleep 30' })).toMatchObject({ name: 'sdk-sec-carol', owner: 'carol' });
    expect(await carol.delete_app('sdk-sec-carol')).toBe(true); // own app: no app-delete needed
    apps.delete('sdk-sec-carol');

    expect(await admin.delete_role('ops')).toBe(true);
    expect(Object.keys(await admin.list_roles())).not.toContain('ops');
    expect(await carol.get_user_permissions()).toEqual([]);
  });

  test('password: self change revokes old sessions; old password refused, new one works; wrong old password is 400', async () => {
    expect(await addUser('dave', 'Dave-Pass-1', ['view'])).toBe(true);
    const dave = await loggedIn('dave', 'Dave-Pass-1');

    expect(await dave.update_password('Dave-Pass-1', 'Dave-Pass-2')).toBe(true);
    await rejection(dave.list_apps(), 401);
    await rejection(loggedIn('dave', 'Dave-Pass-1'), 401);

    const fresh = await loggedIn('dave', 'Dave-Pass-2');
    expect(Array.isArray(await fresh.list_apps())).toBe(true);
    await rejection(fresh.update_password('not-the-old-one', 'Dave-Pass-3'), 400);
    expect(Array.isArray(await fresh.list_apps())).toBe(true); // a failed change revokes nothing
    await loggedIn('dave', 'Dave-Pass-2');
  });

  test('TOTP: secret, enable, 428 challenge, validate, wrong code, code at login, disable', async () => {
    // view: user-totp-active and user-token-renew; usermgr: user-totp-disable.
    expect(await addUser('bob', 'Bob-Pass-1', ['view', 'usermgr'])).toBe(true);
    const bob = await loggedIn('bob', 'Bob-Pass-1');

    let secret = totpSecret(await bob.get_totp_secret());
    const before = sessionToken(bob);
    await bob.enable_totp(await totp(secret));
    expect(sessionToken(bob)).not.toBe(before); // renewed token in the cookie
    expect(Array.isArray(await bob.list_apps())).toBe(true);
    expect(await bearerStatus(before)).toBe(401); // setup revokes the previous token
    expect((await admin.list_users()).bob.mfa_enabled).toBe(true);

    const challenged = new AppMeshClient(daemon.url);
    const error = await rejection(challenged.login('bob', 'Bob-Pass-1'), 428);
    const challenge = (error.responseData as Record<string, unknown>).totp_challenge;
    expect(typeof challenge).toBe('string');
    await rejection(challenged.list_apps(), 401); // not logged in yet

    const valid = new Set([await totp(secret), await totp(secret, true),
      await generate({ secret, epoch: Math.floor(Date.now() / 1000) - 30 })]);
    let wrong = 0;
    while (valid.has(String(wrong).padStart(6, '0'))) wrong++;
    await rejection(challenged.validate_totp('bob', String(challenge), String(wrong).padStart(6, '0')), 401);

    // enable_totp used the current step, so the next step's code is the unused one.
    await challenged.validate_totp('bob', String(challenge), await totp(secret, true));
    expect(Array.isArray(await challenged.list_apps())).toBe(true);

    expect(await bob.disable_totp()).toBe(true);
    expect((await admin.list_users()).bob.mfa_enabled).toBe(false);
    expect(Array.isArray(await (await loggedIn('bob', 'Bob-Pass-1')).list_apps())).toBe(true);

    // Again with a new secret (which resets the used step): a valid code at login logs in directly.
    secret = totpSecret(await bob.get_totp_secret());
    await bob.enable_totp(await totp(secret));
    await rejection(loggedIn('bob', 'Bob-Pass-1'), 428);
    const direct = await loggedIn('bob', 'Bob-Pass-1', await totp(secret, true));
    expect(Array.isArray(await direct.list_apps())).toBe(true);

    expect(await direct.disable_totp('self')).toBe(true);
    expect(Array.isArray(await (await loggedIn('bob', 'Bob-Pass-1')).list_apps())).toBe(true);
  });

  test('renew_token rotates the cookie and revokes the previous token', async () => {
    expect(await addUser('erin', 'Erin-Pass-1', ['view'])).toBe(true);
    const erin = await loggedIn('erin', 'Erin-Pass-1');
    const old = sessionToken(erin);
    expect(await bearerStatus(old)).toBe(200);

    await erin.renew_token();
    const renewed = sessionToken(erin);
    expect(renewed).not.toBe(old);
    expect(Array.isArray(await erin.list_apps())).toBe(true);
    expect(await bearerStatus(renewed)).toBe(200);
    expect(await bearerStatus(old)).toBe(401);
  });

  test('logout revokes the session token', async () => {
    expect(await addUser('frank', 'Frank-Pass-1', ['view'])).toBe(true);
    const frank = await loggedIn('frank', 'Frank-Pass-1');
    const token = sessionToken(frank);
    expect(await bearerStatus(token)).toBe(200);

    await frank.logout();
    expect(await bearerStatus(token)).toBe(401);
    await rejection(frank.list_apps(), 401);
    // Other sessions of the same user are not affected.
    expect(Array.isArray(await (await loggedIn('frank', 'Frank-Pass-1')).list_apps())).toBe(true);
  });
});
