import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { lookupOsUser, runningAsRoot } from '../src/auth/os-user.js';
import { getApp, login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// Switching OS users needs root: the daemon's CI runs as root, a developer's laptop may not.
const asRoot = runningAsRoot();
const unprivileged = lookupOsUser('nobody');

let d: TestDaemon;
let worker: string;
beforeAll(async () => {
  d = await startTestDaemon();
  await d.request('PUT', '/appmesh/user/worker', { body: { key: 'Worker-Password-1', group: 'w', exec_user: 'nobody', roles: ['manage', 'view', 'shell'] } });
  await d.request('PUT', '/appmesh/user/rooty', { body: { key: 'Rooty-Password-1', group: 'w', exec_user: 'toor-alias', roles: ['shell'] } });
  worker = await login(d.url, 'worker', 'Worker-Password-1');
});
afterAll(async () => {
  await d.stop();
});

describe.runIf(asRoot && unprivileged)('exec_user as root', () => {
  test("a user's run executes as its OS account, never as root", async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { token: worker, body: { command: 'id -u; echo $HOME; pwd', shell: true } });
    expect(response.status).toBe(200);
    const [uid] = (await response.text()).split('\n');
    expect(Number(uid)).toBe(unprivileged!.uid);
  });

  test('a managed app reports pid_user and the user view reports exec_user', async () => {
    expect((await d.request('PUT', '/appmesh/app/as-nobody', { token: worker, body: { command: 'sleep 30' } })).status).toBe(200);
    const app = await waitFor(async () => ((await getApp(d, 'as-nobody')).pid ? getApp(d, 'as-nobody') : undefined), 10_000, 'the app to run');
    expect(app.pid_user).toBe('nobody');
    const users = (await (await d.request('GET', '/appmesh/users')).json()) as Record<string, { exec_user: string }>;
    expect(users.worker.exec_user).toBe('nobody');
    await d.request('DELETE', '/appmesh/app/as-nobody', { token: worker });
  });

  test('a user without exec_user never runs as root: an OS identity of its own, never nobody; admin maps to root', async () => {
    await d.request('PUT', '/appmesh/user/plain', { body: { key: 'Plain-Password-1', group: 'p', roles: ['shell'] } });
    const plain = await login(d.url, 'plain', 'Plain-Password-1');
    const asPlain = await d.request('POST', '/appmesh/app/syncrun', { token: plain, body: { command: 'id -u' } });
    const uid = Number((await asPlain.text()).trim());
    expect(uid).toBeGreaterThanOrEqual(61184);
    expect(uid).toBeLessThanOrEqual(65519);
    const asAdmin = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'id -u' } });
    expect((await asAdmin.text()).trim()).toBe('0');
    const users = (await (await d.request('GET', '/appmesh/users')).json()) as Record<string, { exec_user: string }>;
    expect(users.plain.exec_user).toBe('plain');
    expect(users.admin.exec_user).toBe('root');
  });

  test("a health check runs as the owner's OS account, not as the daemon", async () => {
    const marker = join(tmpdir(), `appmesh-health-${process.pid}-${Date.now()}`);
    const plain = await login(d.url, 'plain', 'Plain-Password-1');
    await d.request('PUT', '/appmesh/user/plain', { body: { key: 'x', group: 'p', roles: ['shell', 'manage', 'view'] } });
    const body = { command: 'sleep 30', health_check_cmd: `sh -c 'id -u > ${marker}'` };
    expect((await d.request('PUT', '/appmesh/app/checked-by-plain', { token: plain, body })).status).toBe(200);
    const uid = await waitFor(async () => (await readFile(marker, 'utf8').catch(() => '')).trim() || undefined, 10_000, 'the health check');
    const runUid = (await (await d.request('POST', '/appmesh/app/syncrun', { token: plain, body: { command: 'id -u' } })).text()).trim();
    expect(uid).toBe(runUid);
    expect(Number(uid)).not.toBe(0);
    await d.request('DELETE', '/appmesh/app/checked-by-plain');
    await rm(marker, { force: true });
  });

  test('an unknown OS user is a start failure with a clear message', async () => {
    const rooty = await login(d.url, 'rooty', 'Rooty-Password-1');
    const response = await d.request('POST', '/appmesh/app/syncrun', { token: rooty, body: { command: 'id -u' } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain('user toor-alias does not exist');
  });
});

describe.runIf(!asRoot)('exec_user without root', () => {
  test('a daemon that is not root refuses to switch users with a clear error', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { token: worker, body: { command: 'id -u' } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain('needs the daemon to run as root');
  });
});
