// The bundled daemon (what `npm start` and the appmesh-ts command run) on its own, in its own
// process: it serves, runs a command as a user's own OS identity through the spawner, writes a
// user's upload through the file I/O helper found beside its chunks, and stops on SIGTERM.
import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runningAsRoot } from '../src/auth/os-user.js';
import { BUNDLE_MAIN, spawnBundledDaemon } from './helpers/bundled-daemon.js';
import { ok } from './helpers/mcp-client.js';
import { login, waitFor } from './helpers/test-daemon.js';

const ROOT = join(import.meta.dirname, '..');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
const PASSWORD = 'Bundle-Admin-Password-1';

describe('what npm start and the appmesh-ts command run', () => {
  test('is the bundle, built by npm run build and before npm start', () => {
    expect(PACKAGE.bin['appmesh-ts']).toBe('dist/bundle/main.js');
    expect(PACKAGE.scripts.start).toContain(PACKAGE.bin['appmesh-ts']);
    for (const script of ['build', 'prepare', 'prestart']) expect(PACKAGE.scripts[script]).toContain('scripts/bundle-daemon.mjs');
  });
});

describe('the bundled daemon', () => {
  let child: ChildProcess;
  let home: string;
  let url: string;
  let readOutput = () => '';
  let exited: Promise<number | null>;
  let admin: string;

  beforeAll(async () => {
    expect(existsSync(BUNDLE_MAIN), `${BUNDLE_MAIN} is built by npm run build`).toBe(true);
    const daemon = await spawnBundledDaemon({ password: PASSWORD });
    ({ child, home, url, exited } = daemon);
    readOutput = daemon.output;
    await waitFor(async () => (await fetch(`${url}/appmesh/readyz`).catch(() => undefined))?.status === 200, 20_000, 'readyz of the bundled daemon');
    admin = await login(url, 'admin', PASSWORD);
  });

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await rm(home, { recursive: true, force: true });
  });

  const call = (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  test('runs with the daemon’s node flags, as npm start does', () => {
    const args = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(args).toContain('--max-semi-space-size=1');
    expect(PACKAGE.scripts.start).toContain('--max-semi-space-size=1');
    expect(args).toContain('--interrupt-budget=135168');
    expect(PACKAGE.scripts.start).toContain('--interrupt-budget=135168');
    // Two malloc arenas, not one per thread that ever allocated: less and steadier resident memory.
    expect(readFileSync(`/proc/${child.pid}/environ`, 'utf8').split('\0')).toContain('MALLOC_ARENA_MAX=2');
    expect(PACKAGE.scripts.start).toContain('MALLOC_ARENA_MAX');
  });

  test("the malloc setting of the daemon's command line is the daemon's only: its processes get the environment as it was", async () => {
    const response = await call('POST', '/appmesh/app/syncrun', admin, { command: 'printenv MALLOC_ARENA_MAX; echo end', shell: true });
    expect(await response.text()).toBe('end\n');
  });

  test('answers readyz and logs in', async () => {
    expect((await fetch(`${url}/appmesh/readyz`)).status).toBe(200);
    expect((await call('GET', '/appmesh/user/self', admin)).status).toBe(200);
  });

  test('runs a command through the spawner (its parent is a child of the daemon)', async () => {
    const response = await call('POST', '/appmesh/app/syncrun', admin, { command: 'echo $PPID', shell: true });
    expect(response.status).toBe(200);
    const parent = Number((await response.text()).trim());
    expect(parent).not.toBe(child.pid);
    expect(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${parent}/status`, 'utf8'))?.[1]).toBe(String(child.pid));
  });

  test('copies a large output through the output copier found beside its chunks', async () => {
    const bytes = 3 * 1024 * 1024;
    const response = await call('POST', '/appmesh/app/syncrun', admin, { command: `head -c ${bytes} /dev/zero`, shell: true });
    expect(response.status).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBe(bytes);
  });

  describe.runIf(runningAsRoot())('as root: a user’s run and upload hold the user’s own identity (skipped: not root)', () => {
    let user: string;
    let uid: number;

    beforeAll(async () => {
      const roles = (await (await call('GET', '/appmesh/roles', admin)).json()) as Record<string, string[]>;
      const wanted = ['file-upload', 'app-run-sync'].map((permission) => Object.entries(roles).find(([, granted]) => granted.includes(permission))![0]);
      expect((await call('PUT', '/appmesh/user/bundled', admin, { key: 'Bundled-Password-1', group: 'bundled', roles: [...new Set(wanted)] })).status).toBe(200);
      user = await login(url, 'bundled', 'Bundled-Password-1');
    });

    test('a syncrun runs as the user’s uid, not root', async () => {
      const response = await call('POST', '/appmesh/app/syncrun', user, { command: 'id -u' });
      expect(response.status).toBe(200);
      uid = Number((await response.text()).trim());
      expect(uid).toBeGreaterThan(0);
    });

    test('an upload is written by the I/O helper, owned by the user', async () => {
      const folder = await mkdtemp(join(tmpdir(), 'appmesh-bundle-'));
      await chown(folder, uid, uid);
      const path = join(folder, 'uploaded.txt');
      const response = await fetch(`${url}/appmesh/file/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${user}`, 'X-File-Path': encodeURIComponent(path), 'Content-Type': 'application/octet-stream' },
        body: 'from the bundle',
      });
      expect(response.status, await response.clone().text()).toBe(200);
      expect(readFileSync(path, 'utf8')).toBe('from the bundle');
      expect(statSync(path).uid).toBe(uid);
      expect(statSync(path).gid).not.toBe(0);
      await rm(folder, { recursive: true, force: true });
    });
  });

  test('the bundled appmesh-mcp command relays an MCP client to it over stdio', async () => {
    const client = new Client({ name: 'appmesh-bundle-test', version: '1.0.0' });
    const base = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('APPMESH_')));
    const stdio = join(ROOT, PACKAGE.bin['appmesh-mcp']!);
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [stdio], env: { ...base, APPMESH_URL: url, APPMESH_TOKEN: admin }, stderr: 'ignore' }));
    try {
      expect(await ok(client, 'run_app_sync', { command: 'echo bundled' })).toEqual({ exit_code: 0, output: 'bundled\n' });
    } finally {
      await client.close();
    }
  });

  test('stops on SIGTERM', async () => {
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), 20_000))]);
    expect(code, readOutput()).toBe(0);
  });
});
