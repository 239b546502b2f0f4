// File I/O with the caller's credentials: on a root daemon a user's uploads, downloads, MCP file
// tools and workspaces run in a helper holding the user's uid/gid, so the kernel refuses what
// the user could not do itself — whatever tricks the user plays with links, FIFOs and sticky /tmp.
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, open, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runningAsRoot } from '../src/auth/os-user.js';
import { askHelper } from '../src/files/io-helper-client.js';
import { exchangeRacer } from './helpers/exchange-racer.js';
import { call, mcpClient, ok } from './helpers/mcp-client.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

const MiB = 1024 * 1024;
const WORKSPACE_CAP = 3;
const UPLOAD_LIMIT = 16 * MiB;

interface User {
  name: string;
  token: string;
  mcp: Client;
  uid: number;
  gid: number;
}

let d: TestDaemon;
let scratch: string;
let users: User[] = [];

async function rolesWith(daemon: TestDaemon, permissions: string[]): Promise<string[]> {
  const roles = (await (await daemon.request('GET', '/appmesh/roles')).json()) as Record<string, string[]>;
  return [...new Set(permissions.map((permission) => Object.entries(roles).find(([, granted]) => granted.includes(permission))![0]))];
}

/** A user with file and workspace permissions, its MCP client, and the OS identity the daemon gave it. */
async function newUser(name: string): Promise<User> {
  const roles = await rolesWith(d, ['file-upload', 'file-download', 'app-run-async']);
  const password = `${name}-Password-1`;
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: password, group: name, roles } })).status).toBe(200);
  const token = await login(d.url, name, password);
  const mcp = await mcpClient(d.url, token);
  const probe = await ok<{ path: string }>(mcp, 'workspace_open', { name: 'probe' });
  const { uid, gid } = await lstat(probe.path);
  await ok(mcp, 'workspace_remove', { name: 'probe' });
  const user = { name, token, mcp, uid, gid };
  users.push(user);
  return user;
}

const upload = (user: User, path: string, body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${d.url}/appmesh/file/upload`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${user.token}`, 'X-File-Path': encodeURIComponent(path), 'Content-Type': 'application/octet-stream', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });

const download = (user: User, path: string, signal?: AbortSignal) =>
  fetch(`${d.url}/appmesh/file/download`, { headers: { Authorization: `Bearer ${user.token}`, 'X-File-Path': encodeURIComponent(path) }, signal });

/** A folder in the scratch area owned by the user, as its own would be. */
async function userFolder(user: User, name: string): Promise<string> {
  const path = join(scratch, name);
  await mkdir(path, { mode: 0o755 });
  await chown(path, user.uid, user.gid);
  return path;
}

describe.runIf(runningAsRoot())('file I/O with the caller’s credentials (root daemon)', () => {
  let alice: User;
  let bob: User;

  beforeAll(async () => {
    d = await startTestDaemon({ env: { APPMESH_Limits_MaxWorkspacesPerUser: String(WORKSPACE_CAP), APPMESH_Limits_MaxUploadBytes: String(UPLOAD_LIMIT) } });
    scratch = await mkdtemp(join(tmpdir(), 'appmesh-file-credentials-'));
    await chmod(scratch, 0o755);
    alice = await newUser('alice');
    bob = await newUser('bob');
  });

  afterAll(async () => {
    for (const user of users) await user.mcp.close();
    users = [];
    await d?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  test('the helper holds exactly the identity: its uid/gid, no supplementary groups, no name needed', async () => {
    const before = process.getgroups?.() ?? [];
    // Give the daemon supplementary groups, as a service account often has.
    process.setgroups?.([4, 27]);
    try {
      const own = await askHelper({ op: 'id' }, undefined);
      expect(own.groups).toBe('4 27');
      // A uid with no password entry at all.
      const other = await askHelper({ op: 'id' }, { uid: 64999, gid: 64998 });
      expect(other).toMatchObject({ uid: 64999, gid: 64998, groups: '' });
    } finally {
      process.setgroups?.(before);
    }
  });

  test("a user's upload, download, read_file, list_dir and stat_path are done as its own account", async () => {
    const box = await userFolder(alice, 'alice-box');
    const content = randomBytes(8 * MiB);
    const target = join(box, 'data.bin');
    expect((await upload(alice, target, content, { 'X-File-Mode': '416' })).status).toBe(200);
    const info = await stat(target);
    expect([info.uid, info.gid, info.mode & 0o777]).toEqual([alice.uid, alice.gid, 0o640]);
    const back = await download(alice, target);
    expect(back.status).toBe(200);
    expect(back.headers.get('x-file-mode')).toBe('416');
    expect(Buffer.from(await back.arrayBuffer()).equals(content)).toBe(true);
    expect(await ok(alice.mcp, 'write_file', { path: join(box, 'notes.txt'), content: 'hello' })).toEqual({ path: join(box, 'notes.txt'), bytes: 5 });
    expect(await ok(alice.mcp, 'read_file', { path: join(box, 'notes.txt'), offset: 1, length: 3 })).toMatchObject({ content: 'ell', size: 5 });
    const listing = await ok<{ entries: { name: string; type: string }[] }>(alice.mcp, 'list_dir', { path: box });
    expect(listing.entries.map((entry) => entry.name)).toEqual(['data.bin', 'notes.txt']);
    expect(await ok(alice.mcp, 'stat_path', { path: target })).toMatchObject({ type: 'file', size: 8 * MiB, mode: 0o640 });
    // Nothing of the helper's temporary files is left.
    expect(await readdir(box)).toEqual(['data.bin', 'notes.txt']);
    // Another user's folder is the kernel's to refuse.
    expect((await upload(bob, join(box, 'intruder.txt'), 'x')).status).toBe(403);
    expect((await call(bob.mcp, 'write_file', { path: join(box, 'notes.txt'), content: 'x', overwrite: true })).isError).toBe(true);
    expect(await readFile(join(box, 'notes.txt'), 'utf8')).toBe('hello');
  });

  test("a user's upload over the limit, or cut off mid-body, leaves no file and no temporary file", async () => {
    const box = await userFolder(alice, 'alice-cut');
    // Chunked, so the limit is found while streaming, not from a declared length.
    const tooBig = await fetch(`${d.url}/appmesh/file/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${alice.token}`, 'X-File-Path': encodeURIComponent(join(box, 'big.bin')), 'Content-Type': 'application/octet-stream' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 17; i++) controller.enqueue(new Uint8Array(MiB));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(tooBig.status).toBe(413);
    expect(await readdir(box)).toEqual([]);

    const url = new URL(d.url);
    const req = httpRequest({
      host: url.hostname, port: url.port, method: 'POST', path: '/appmesh/file/upload',
      headers: { Authorization: `Bearer ${alice.token}`, 'X-File-Path': encodeURIComponent(join(box, 'cut.bin')), 'Content-Type': 'application/octet-stream', 'Content-Length': String(8 * MiB) },
    });
    req.on('error', () => undefined);
    req.write(randomBytes(4 * MiB));
    await waitFor(async () => (await readdir(box)).some((name) => name.endsWith('.part')), 10_000, "the helper's temporary file");
    req.destroy();
    await waitFor(async () => (await readdir(box)).length === 0, 10_000, 'the folder to be empty');
  });

  test('a root-owned file in sticky /tmp cannot be replaced: not by MCP write_file, not by a REST upload', async () => {
    const victim = join(tmpdir(), `appmesh-root-file-${randomBytes(6).toString('hex')}`);
    await writeFile(victim, "root's content", { mode: 0o644 });
    try {
      expect(((await stat(tmpdir())).mode & 0o1000) !== 0, 'the temporary folder is sticky').toBe(true);
      const replaced = await call(alice.mcp, 'write_file', { path: victim, content: 'replaced by alice', overwrite: true });
      expect(replaced.isError).toBe(true);
      expect(replaced.content[0].text).toMatch(/Permission denied/);
      const uploaded = await upload(alice, victim, 'replaced by alice');
      expect(uploaded.status).toBe(403);
      const info = await stat(victim);
      expect([info.uid, await readFile(victim, 'utf8')]).toEqual([0, "root's content"]);
      // No temporary file of the attempt is left either.
      expect((await readdir(tmpdir())).filter((name) => name.startsWith(`.appmesh-root-file-`))).toEqual([]);
    } finally {
      await rm(victim, { force: true });
    }
  });

  test("root-only files stay root's: a 0600 file and a file inside a 0700 folder", async () => {
    const locked = join(scratch, 'locked');
    await mkdir(locked, { mode: 0o700 });
    await writeFile(join(locked, 'inside'), 'root only', { mode: 0o644 });
    await writeFile(join(scratch, 'private'), 'root only', { mode: 0o600 });
    for (const path of [join(locked, 'inside'), join(scratch, 'private')]) {
      expect((await download(alice, path)).status, path).toBe(403);
      const read = await call(alice.mcp, 'read_file', { path });
      expect(read.isError, path).toBe(true);
    }
    expect((await call(alice.mcp, 'list_dir', { path: locked })).isError).toBe(true);
    expect((await upload(alice, join(locked, 'planted'), 'x')).status).toBe(403);
    expect(await readdir(locked)).toEqual(['inside']);
  });

  describe('a FIFO where a file is expected', () => {
    const fifoReason = ((): string | undefined => {
      try {
        execFileSync('mkfifo', ['--version'], { stdio: 'ignore' });
        return undefined;
      } catch {
        return 'mkfifo is not available';
      }
    })();
    let box: string;
    beforeAll(async () => {
      if (fifoReason) return;
      box = await userFolder(alice, 'fifo-box');
      execFileSync('mkfifo', [join(box, 'pipe')]);
      await chown(join(box, 'pipe'), alice.uid, alice.gid);
      await writeFile(join(box, 'data'), 'plain data');
      await chown(join(box, 'data'), alice.uid, alice.gid);
    });
    afterAll(async () => {
      // Releases any reader a broken daemon left blocked on the FIFO.
      for (const name of ['pipe', 'data']) {
        const handle = await open(join(box, name), constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
        await handle?.close();
      }
    });

    test.skipIf(fifoReason)('answers at once with an error, for MCP read_file and a REST download', async () => {
      const started = Date.now();
      const read = await call(alice.mcp, 'read_file', { path: join(box, 'pipe') }, { timeout: 5000 });
      expect(read.isError).toBe(true);
      expect((await download(alice, join(box, 'pipe'), AbortSignal.timeout(5000))).status).toBe(406);
      expect(Date.now() - started).toBeLessThan(4000);
    });

    const racer = runningAsRoot() ? exchangeRacer() : 'needs root';
    test.skipIf(fifoReason || typeof racer === 'string')('swapped in while files are read, it blocks nothing: every read answers and readyz stays up', async () => {
      if (typeof racer === 'string') return;
      const swap = racer.start(join(box, 'data'), join(box, 'pipe'));
      const slowest = { read: 0, download: 0, readyz: 0 };
      let answered = 0;
      try {
        const deadline = Date.now() + 4000;
        while (Date.now() < deadline) {
          let t0 = Date.now();
          const read = await call(alice.mcp, 'read_file', { path: join(box, 'data') }, { timeout: 5000 });
          slowest.read = Math.max(slowest.read, Date.now() - t0);
          if (!read.isError) expect(read.structuredContent).toMatchObject({ content: 'plain data' });
          t0 = Date.now();
          const response = await download(alice, join(box, 'data'), AbortSignal.timeout(5000));
          const body = await response.text();
          slowest.download = Math.max(slowest.download, Date.now() - t0);
          expect([200, 406]).toContain(response.status);
          if (response.status === 200) expect(body).toBe('plain data');
          t0 = Date.now();
          expect((await fetch(`${d.url}/appmesh/readyz`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
          slowest.readyz = Math.max(slowest.readyz, Date.now() - t0);
          answered++;
        }
      } finally {
        await swap.stop();
        racer.dispose();
      }
      console.log(`FIFO swap: ${answered} rounds, slowest (ms) ${JSON.stringify(slowest)}`);
      expect(answered).toBeGreaterThan(0);
    });
  });

  test("workspace_remove deletes nothing of root's: not through a link inside, not when the folder itself became a link", async () => {
    const rootDir = join(scratch, 'roots-folder');
    await mkdir(join(rootDir, 'nested'), { recursive: true });
    await writeFile(join(rootDir, 'keep'), 'root data');
    await writeFile(join(rootDir, 'nested', 'keep'), 'root data');

    const first = await ok<{ path: string }>(alice.mcp, 'workspace_open', { name: 'links' });
    await ok(alice.mcp, 'write_file', { path: join(first.path, 'work.txt'), content: 'mine' });
    await symlink(rootDir, join(first.path, 'root-link'));
    await ok(alice.mcp, 'workspace_remove', { name: 'links' });
    await expect(lstat(first.path)).rejects.toThrow();

    const second = await ok<{ path: string }>(alice.mcp, 'workspace_open', { name: 'swapped' });
    await writeFile(join(second.path, 'keep'), 'user data');
    await rename(second.path, `${second.path}.moved`);
    await symlink(rootDir, second.path);
    await ok(alice.mcp, 'workspace_remove', { name: 'swapped' });
    await rm(`${second.path}.moved`, { recursive: true, force: true });

    expect((await readdir(rootDir)).sort()).toEqual(['keep', 'nested']);
    expect(await readdir(join(rootDir, 'nested'))).toEqual(['keep']);
  });

  test("two users: neither can read, list or write the other's workspace", async () => {
    const workspace = await ok<{ path: string }>(alice.mcp, 'workspace_open', { name: 'private' });
    const file = join(workspace.path, 'secret.txt');
    await ok(alice.mcp, 'write_file', { path: file, content: 'alice only' });
    expect((await lstat(workspace.path)).uid).toBe(alice.uid);
    expect(bob.uid).not.toBe(alice.uid);

    const response = await download(bob, file);
    expect(response.status).toBe(403);
    expect(await response.text()).not.toContain('alice only');
    for (const [tool, args] of [
      ['read_file', { path: file }],
      ['list_dir', { path: workspace.path }],
      ['stat_path', { path: file }],
      ['write_file', { path: join(workspace.path, 'from-bob.txt'), content: 'x' }],
    ] as const) {
      const result = await call(bob.mcp, tool, args);
      expect(result.isError, tool).toBe(true);
      expect(JSON.stringify(result)).not.toContain('alice only');
    }
    expect(await readdir(workspace.path)).toEqual(['secret.txt']);
    await ok(alice.mcp, 'workspace_remove', { name: 'private' });
  });

  test('workspaces per user are capped by Limits.MaxWorkspacesPerUser (429), others unaffected', async () => {
    const carol = await newUser('carol');
    for (let i = 0; i < WORKSPACE_CAP; i++) await ok(carol.mcp, 'workspace_open', { name: `w${i}` });
    // Opening one that exists is no new workspace.
    await ok(carol.mcp, 'workspace_open', { name: 'w0' });
    const refused = await call(carol.mcp, 'workspace_open', { name: 'one-too-many' });
    expect(refused.isError).toBe(true);
    expect(refused.content[0].text).toMatch(/Limits\.MaxWorkspacesPerUser/);
    await ok(bob.mcp, 'workspace_open', { name: 'still-possible' });
    await ok(carol.mcp, 'workspace_remove', { name: 'w1' });
    await ok(carol.mcp, 'workspace_open', { name: 'one-too-many' });
  });
});
