import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { lookupOsUser, runningAsRoot } from '../src/auth/os-user.js';
import { startDaemon } from '../src/daemon.js';
import { Logger } from '../src/util/log.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// One OS identity per user, tried as a hostile user would against a root daemon: a user without
// exec_user must never share an account (nobody) with another user, nor take an OS account by name.

const NOBODY = lookupOsUser('nobody')?.uid ?? 65534;
// An OS account that exists on every Debian system: an App Mesh user named like it must not become it.
const SYSTEM_ACCOUNT = ['daemon', 'bin', 'sys', 'www-data'].map((name) => lookupOsUser(name)).find((user) => user !== undefined);

let d: TestDaemon;
const tokens: Record<string, string> = {};

async function addUser(name: string, roles = ['view', 'shell', 'manage']): Promise<string> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: `${name}-Password-1`, group: name, roles } })).status).toBe(200);
  tokens[name] = await login(d.url, name, `${name}-Password-1`);
  return tokens[name];
}

async function syncrun(token: string, command: string): Promise<{ status: number; text: string; exit: string | null }> {
  const response = await d.request('POST', '/appmesh/app/syncrun', { token, body: { command, shell: true } });
  return { status: response.status, text: await response.text(), exit: response.headers.get('exit-code') };
}

beforeAll(async () => {
  d = await startTestDaemon();
  await addUser('alice');
  await addUser('bob');
});
afterAll(async () => {
  await d?.stop();
});

describe.runIf(runningAsRoot())('one OS identity per user (root daemon)', () => {
  test('two users without exec_user run under different uids, neither root nor nobody, each with a private home', async () => {
    const alice = await syncrun(tokens.alice, 'id -u; id -g; id -G; echo $HOME; stat -c %a:%u $HOME');
    const bob = await syncrun(tokens.bob, 'id -u; id -g; echo $HOME');
    const [aliceUid, aliceGid, aliceGroups, aliceHome, aliceHomeMode] = alice.text.trim().split('\n');
    const [bobUid, , bobHome] = bob.text.trim().split('\n');
    expect(Number(aliceUid)).not.toBe(Number(bobUid));
    for (const uid of [aliceUid, bobUid]) {
      expect(Number(uid)).not.toBe(0);
      expect(Number(uid)).not.toBe(NOBODY);
      expect(Number(uid)).toBeGreaterThanOrEqual(61184);
    }
    expect(aliceGid).toBe(aliceUid);
    // No supplementary group of the daemon's (root's) is kept.
    expect(aliceGroups.trim()).toBe(aliceGid);
    expect(aliceHome).not.toBe(bobHome);
    expect(aliceHomeMode).toBe(`700:${aliceUid}`);
  });

  test("a user cannot read another user's environment (sec_env, the task process key) from /proc", async () => {
    const body = { command: 'sleep 60', sec_env: { ALICE_SECRET: 'alice-secret-value' } };
    expect((await d.request('PUT', '/appmesh/app/alice-secret', { token: tokens.alice, body })).status).toBe(200);
    const app = await waitFor(async () => {
      const view = (await (await d.request('GET', '/appmesh/app/alice-secret', { token: tokens.alice })).json()) as { pid?: number };
      return view.pid ? view : undefined;
    }, 10_000, 'alice-secret to run');
    const attempt = await syncrun(tokens.bob, `cat /proc/${app.pid}/environ; tr '\\0' '\\n' < /proc/${app.pid}/environ; true`);
    expect(attempt.status).toBe(200);
    expect(attempt.text).not.toContain('alice-secret-value');
    expect(attempt.text).not.toContain('APP_MESH_PROCESS_KEY');
    // The owner itself still can.
    const own = await syncrun(tokens.alice, `tr '\\0' '\\n' < /proc/${app.pid}/environ`);
    expect(own.text).toContain('ALICE_SECRET=alice-secret-value');
    await d.request('DELETE', '/appmesh/app/alice-secret', { token: tokens.alice });
  });

  test("a user cannot read or write another user's home", async () => {
    expect((await syncrun(tokens.alice, 'echo private > $HOME/note.txt && echo written')).text).toContain('written');
    const aliceHome = (await syncrun(tokens.alice, 'echo $HOME')).text.trim();
    const attempt = await syncrun(tokens.bob, `cat ${aliceHome}/note.txt; ls ${aliceHome}; touch ${aliceHome}/planted; true`);
    expect(attempt.text).not.toContain('private');
    expect((await syncrun(tokens.alice, 'ls $HOME')).text).not.toContain('planted');
  });

  test.runIf(SYSTEM_ACCOUNT !== undefined)('a user named like an existing OS account does not run as that account', async () => {
    const account = SYSTEM_ACCOUNT!;
    // A usermgr creates it, as a hostile user manager would (it holds the role it grants).
    const manager = await addUser('manager', ['usermgr', 'view', 'shell']);
    expect((await d.request('PUT', `/appmesh/user/${account.name}`, { token: manager, body: { key: 'Sys-Password-1', group: 'x', roles: ['shell'] } })).status).toBe(200);
    const token = await login(d.url, account.name, 'Sys-Password-1');
    const uid = Number((await syncrun(token, 'id -u')).text.trim());
    expect(uid).not.toBe(account.uid);
    expect(uid).toBeGreaterThanOrEqual(61184);
  });

  test('identities survive a restart; a deleted and re-created user gets a new uid, never the old one', async () => {
    await addUser('carol');
    const before = (await syncrun(tokens.carol, 'id -u')).text.trim();
    await d.restart();
    tokens.carol = await login(d.url, 'carol', 'carol-Password-1');
    expect((await syncrun(tokens.carol, 'id -u')).text.trim()).toBe(before);
    expect((await d.request('DELETE', '/appmesh/user/carol')).status).toBe(200);
    await addUser('carol');
    const after = (await syncrun(tokens.carol, 'id -u')).text.trim();
    expect(after).not.toBe(before);
  });
});

describe('the daemon refuses folders others can write', () => {
  const logger = new Logger('ERROR', () => undefined);
  let base: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'appmesh-unsafe-'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  test('a home writable by others', async () => {
    const home = join(base, 'open-home');
    await mkdir(home);
    await chmod(home, 0o777);
    await expect(startDaemon({ home, port: 0, logger, env: { ...process.env, APPMESH_ADMIN_PASSWORD: 'x-Password-1', APPMESH_MQTT_Enabled: 'false' } })).rejects.toThrow(/writable by other accounts/);
    // Nothing was created in it.
    expect((await stat(join(home, 'config')).catch(() => undefined))).toBeUndefined();
  });

  test('a home inside a folder others can write (no sticky bit)', async () => {
    const open = join(base, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    const home = join(open, 'home');
    await mkdir(home, { mode: 0o700 });
    await expect(startDaemon({ home, port: 0, logger, env: { ...process.env, APPMESH_ADMIN_PASSWORD: 'x-Password-1', APPMESH_MQTT_Enabled: 'false' } })).rejects.toThrow(/another account controls/);
  });

  test('a working directory others can write', async () => {
    const home = join(base, 'good-home');
    const work = join(base, 'open-work');
    await mkdir(work);
    await chmod(work, 0o777);
    const env = { ...process.env, APPMESH_ADMIN_PASSWORD: 'x-Password-1', APPMESH_MQTT_Enabled: 'false', APPMESH_BaseConfig_WorkingDirectory: work };
    await expect(startDaemon({ home, port: 0, logger, env })).rejects.toThrow(/WorkingDirectory/);
  });
});
