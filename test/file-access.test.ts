import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { lookupOsUser, runningAsRoot } from '../src/auth/os-user.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
let scratch: string;
beforeAll(async () => {
  d = await startTestDaemon();
  scratch = await mkdtemp(join(tmpdir(), 'appmesh-file-access-'));
  await chmod(scratch, 0o755);
});
afterAll(async () => {
  await d.stop();
  await rm(scratch, { recursive: true, force: true });
});

const download = (path: string, token?: string) => d.request('GET', '/appmesh/file/download', { token, headers: { 'X-File-Path': encodeURIComponent(path) } });
const upload = (path: string, body: string, token?: string) => d.request('POST', '/appmesh/file/upload', { token, body, headers: { 'X-File-Path': encodeURIComponent(path), 'Content-Type': 'application/octet-stream' } });

describe("the daemon's own folder", () => {
  test('its keys, users and definitions are never transferred, not even to admin', async () => {
    for (const file of ['config/config.yaml', 'config/security.yaml', 'config/secret.key', 'initial-admin-password']) {
      const response = await download(join(d.home, file));
      expect(response.status, file).toBe(403);
      expect(((await response.json()) as { message: string }).message).toMatch(/daemon's own folder/);
    }
    expect((await upload(join(d.home, 'apps', 'planted.yaml'), 'command: id')).status).toBe(403);
  });

  test('the default working directory of applications stays open', async () => {
    const path = join(d.home, 'work', 'tmp', 'input.txt');
    expect((await upload(path, 'for the app')).status).toBe(200);
    expect(await (await download(path)).text()).toBe('for the app');
  });
});

describe.runIf(runningAsRoot() && lookupOsUser('nobody'))("a user's transfers are limited to what its OS account may do", () => {
  let token: string;
  beforeAll(async () => {
    await d.request('PUT', '/appmesh/user/filer', { body: { key: 'Filer-Password-1', group: 'f', roles: ['manage'] } });
    token = await login(d.url, 'filer', 'Filer-Password-1');
  });

  test("a root-only file cannot be downloaded; a world-readable one can", async () => {
    await writeFile(join(scratch, 'private'), 'root only', { mode: 0o600 });
    await writeFile(join(scratch, 'public'), 'for all', { mode: 0o644 });
    expect((await download(join(scratch, 'private'), token)).status).toBe(403);
    const shared = await download(join(scratch, 'public'), token);
    expect(shared.status).toBe(200);
    expect(await shared.text()).toBe('for all');
    expect((await download(join(scratch, 'private'))).status).toBe(200);
  });

  test('uploads need a folder the account may write to, and belong to that account', async () => {
    expect((await upload(join(scratch, 'denied.txt'), 'x', token)).status).toBe(403);
    const open = join(scratch, 'open');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(open);
    await chmod(open, 0o777);
    expect((await upload(join(open, 'mine.txt'), 'x', token)).status).toBe(200);
    // The user's own OS identity, never root.
    expect((await stat(join(open, 'mine.txt'))).uid).not.toBe(0);
    const giveAway = await d.request('POST', '/appmesh/file/upload', {
      token, body: 'x', headers: { 'X-File-Path': encodeURIComponent(join(open, 'root-owned.txt')), 'X-File-User': 'root', 'Content-Type': 'application/octet-stream' },
    });
    expect(giveAway.status).toBe(403);
  });
});
