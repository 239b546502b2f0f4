import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { sandboxSupport } from '../src/containment/sandbox.js';
import { call, mcpClient } from './helpers/mcp-client.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

/**
 * The `isolated` sandbox through a real root daemon: what a user's command can still reach from
 * inside it, the per-user default that admin sets, and a host where bubblewrap is missing.
 */

const support = sandboxSupport();
const asRoot = process.getuid?.() === 0;
const PASSWORD = 'Sandbox-Pass-1';

async function addUser(d: TestDaemon, name: string, roles: string[]): Promise<string> {
  const response = await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, group: name, roles } });
  expect(response.status).toBe(200);
  return login(d.url, name, PASSWORD);
}

interface SyncRun {
  status: number;
  text: string;
  exitCode: string | null;
}

async function syncrun(d: TestDaemon, token: string, body: Record<string, unknown>): Promise<SyncRun> {
  const response = await d.request('POST', '/appmesh/app/syncrun', { token, body: { shell: true, ...body } });
  return { status: response.status, text: await response.text(), exitCode: response.headers.get('x-exit-code') };
}

/** Lines printed by a run that succeeded. */
async function lines(d: TestDaemon, token: string, body: Record<string, unknown>): Promise<string[]> {
  const run = await syncrun(d, token, body);
  expect(run.status, run.text).toBe(200);
  return run.text.trim().split('\n');
}

const countProcesses = 'ls /proc | grep -cE "^[0-9]+$"';

describe.runIf(support.available && asRoot)(`isolated runs through a root daemon (${support.reason ?? support.version})`, () => {
  let d: TestDaemon;
  let port: string;
  let iso: string;
  let sandy: string;
  let manager: string;
  let work: string;
  let foreign: string;
  beforeAll(async () => {
    // Outside /tmp, so that hiding the daemon's home is the sandbox's doing, not the private /tmp's.
    d = await startTestDaemon({ home: await mkdtemp('/var/tmp/appmesh-sandbox-home-') });
    port = new URL(d.url).port;
    iso = await addUser(d, 'iso', ['shell', 'view', 'manage']);
    sandy = await addUser(d, 'sandy', ['shell', 'view', 'manage']);
    manager = await addUser(d, 'manager', ['usermgr', 'view']);
    // A working folder owned by iso's OS account, and a world-writable folder of someone else's.
    const [uid, gid] = (await lines(d, iso, { command: 'id -u; id -g' })).map(Number);
    work = await mkdtemp('/var/tmp/appmesh-sandbox-run-');
    await chown(work, uid, gid);
    foreign = await mkdtemp('/var/tmp/appmesh-sandbox-foreign-');
    await chmod(foreign, 0o777);
  });
  afterAll(async () => {
    await d?.stop();
    if (work) await rm(work, { recursive: true, force: true });
    if (foreign) await rm(foreign, { recursive: true, force: true });
  });

  test('an isolated run sees only its own processes', async () => {
    const [outside] = await lines(d, iso, { command: countProcesses });
    const [inside] = await lines(d, iso, { command: countProcesses, sandbox: 'isolated' });
    expect(Number(outside)).toBeGreaterThan(10);
    expect(Number(inside)).toBeLessThan(6);
    const ps = await lines(d, iso, { command: 'ps ax -o comm=', sandbox: 'isolated' });
    expect(ps.every((name) => ['bwrap', 'bash', 'ps'].includes(name.trim())), ps.join(',')).toBe(true);
  });

  test('an isolated run writes only in its working directory; the file is there afterwards', async () => {
    const attempt = `for target in /usr/x /root/x ${foreign}/x; do touch $target 2>/dev/null && echo wrote $target; done; echo made > made && echo made`;
    // Without the sandbox the world-writable folder takes the file: only the sandbox stops it.
    expect(await lines(d, iso, { command: `touch ${foreign}/control && echo wrote`, working_dir: work })).toEqual(['wrote']);
    await rm(join(foreign, 'control'));
    expect(await lines(d, iso, { command: attempt, working_dir: work, sandbox: 'isolated' })).toEqual(['made']);
    expect((await stat(join(work, 'made'))).isFile()).toBe(true);
    expect(await readdir(foreign)).toEqual([]);
  });

  test('a working directory the user does not own stays read-only, even when the folder is world-writable', async () => {
    const run = await lines(d, iso, { command: 'touch planted 2>/dev/null && echo wrote; pwd', working_dir: foreign, sandbox: 'isolated' });
    expect(run).toEqual([foreign]);
    expect(await readdir(foreign)).toEqual([]);
  });

  test.runIf(existsSync('/usr/bin/gcc'))('a preloaded library of the user runs inside the sandbox, never before it', async () => {
    // The user's own library, loaded into every program of the run: outside the sandbox it could write anywhere the account may.
    const source = join(work, 'escape.c');
    const library = join(work, 'escape.so');
    await writeFile(source, '#include <fcntl.h>\n#include <stdlib.h>\n#include <unistd.h>\n__attribute__((constructor)) static void escape(void) { const char *mark = getenv("ESCAPE_MARK"); int fd = mark ? open(mark, O_CREAT | O_WRONLY, 0644) : -1; if (fd >= 0) close(fd); }\n');
    const built = await lines(d, iso, { command: `gcc -shared -fPIC -o ${library} ${source} && echo built`, working_dir: work });
    expect(built).toEqual(['built']);
    const env = { LD_PRELOAD: library, ESCAPE_MARK: join(foreign, 'escaped') };
    expect(await lines(d, iso, { command: 'echo ran', working_dir: work, sandbox: 'isolated', env })).toEqual(['ran']);
    expect(await readdir(foreign)).toEqual([]);
    // The control: without the sandbox the same library does write there.
    expect(await lines(d, iso, { command: 'echo ran', working_dir: work, env })).toEqual(['ran']);
    expect(await readdir(foreign)).toEqual(['escaped']);
    await rm(join(foreign, 'escaped'));
  });

  test('an isolated run cannot make user namespaces of its own (less kernel to attack)', async () => {
    const probe = 'unshare --user true 2>/dev/null && echo nested || echo refused';
    expect(await lines(d, iso, { command: probe, working_dir: work })).toEqual(['nested']);
    expect(await lines(d, iso, { command: probe, working_dir: work, sandbox: 'isolated' })).toEqual(['refused']);
  });

  test('an isolated run has an empty private /tmp', async () => {
    const planted = `/tmp/appmesh-sandbox-planted-${process.pid}`;
    const leaked = `/tmp/appmesh-sandbox-leaked-${process.pid}`;
    await writeFile(planted, 'visible to everyone outside');
    await chmod(planted, 0o644);
    try {
      expect(await lines(d, iso, { command: `test -e ${planted} && echo planted-visible` })).toEqual(['planted-visible']);
      const inside = await lines(d, iso, { command: `ls -A /tmp | wc -l; echo x > ${leaked} && echo wrote`, working_dir: work, sandbox: 'isolated' });
      expect(inside).toEqual(['0', 'wrote']);
      await expect(stat(leaked)).rejects.toThrow();
    } finally {
      await rm(planted, { force: true });
      await rm(leaked, { force: true });
    }
  });

  test('an isolated run has no network unless sandbox_network is true', async () => {
    const connect = `(exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo connected || echo refused`;
    expect(await lines(d, iso, { command: connect, working_dir: work, sandbox: 'isolated' })).toEqual(['refused']);
    expect(await lines(d, iso, { command: connect, working_dir: work, sandbox: 'isolated', sandbox_network: false })).toEqual(['refused']);
    expect(await lines(d, iso, { command: connect, working_dir: work, sandbox: 'isolated', sandbox_network: true })).toEqual(['connected']);
    expect(await lines(d, iso, { command: connect })).toEqual(['connected']);
  });

  test('an isolated run does not see the daemon\'s home, even as admin', async () => {
    const probe = `test -e ${d.home}/config/security.yaml && echo visible || echo hidden; ls ${d.home}/work/stdout 2>/dev/null | wc -l`;
    const outside = await lines(d, d.token, { command: probe });
    expect(outside[0]).toBe('visible');
    expect(Number(outside[1])).toBeGreaterThan(0);
    expect(await lines(d, d.token, { command: probe, sandbox: 'isolated' })).toEqual(['hidden', '0']);
  });

  test('the health check of an isolated app runs in the sandbox too', async () => {
    const check = `bash -c 'touch ${foreign}/from-health-check; test $(ls /proc | grep -c "^[0-9]*$") -lt 8'`;
    const put = await d.request('PUT', '/appmesh/app/isolated-health', { token: iso, body: { command: 'sleep 60', sandbox: 'isolated', health_check_cmd: check } });
    expect(put.status).toBe(200);
    try {
      const healthy = await waitFor(async () => ((await (await d.request('GET', '/appmesh/app/isolated-health', { token: iso })).json()) as { health: number }).health === 0, 8000, 'a healthy verdict').catch(() => false);
      expect(await readdir(foreign)).toEqual([]);
      expect(healthy).toBe(true);
    } finally {
      await d.request('DELETE', '/appmesh/app/isolated-health', { token: iso });
      await rm(join(foreign, 'from-health-check'), { force: true });
    }
  });

  test('the sandbox is part of the app model: shown, validated, stored', async () => {
    const put = await d.request('PUT', '/appmesh/app/sandboxed-app', { token: sandy, body: { command: 'true', sandbox: 'isolated', sandbox_network: true } });
    expect(put.status).toBe(200);
    const view = (await put.json()) as Record<string, unknown>;
    expect(view.sandbox).toBe('isolated');
    expect(view.sandbox_network).toBe(true);
    expect((await d.request('DELETE', '/appmesh/app/sandboxed-app', { token: sandy })).status).toBe(200);
    const bad = await d.request('PUT', '/appmesh/app/bad-sandbox', { token: sandy, body: { command: 'true', sandbox: 'chroot' } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/sandbox.*none, isolated/);
    const contradiction = await syncrun(d, sandy, { command: 'true', sandbox: 'none', sandbox_network: false });
    expect(contradiction.status).toBe(400);
    expect(contradiction.text).toMatch(/only an isolated sandbox can turn the network off/);
  });

  test('a user default set by admin applies to plain runs, cannot be opted out of, and only admin sets it', async () => {
    const before = await lines(d, sandy, { command: countProcesses });
    expect(Number(before[0])).toBeGreaterThan(10);
    // A non-admin user manager cannot set it, neither for another user nor for itself.
    const byManager = await d.request('PUT', '/appmesh/user/sandy', { token: manager, body: { group: 'sandy', roles: ['shell', 'view', 'manage'], sandbox: 'isolated' } });
    expect(byManager.status).toBe(400);
    expect(((await byManager.json()) as { message: string }).message).toMatch(/Only admin may set sandbox/);

    const byAdmin = await d.request('PUT', '/appmesh/user/sandy', { body: { group: 'sandy', roles: ['shell', 'view', 'manage'], sandbox: 'isolated' } });
    expect(byAdmin.status).toBe(200);
    const users = (await (await d.request('GET', '/appmesh/users')).json()) as Record<string, Record<string, unknown>>;
    expect(users.sandy.sandbox).toBe('isolated');

    // The plain run is isolated; asking for none is refused, for runs and for apps.
    const [inside] = await lines(d, sandy, { command: countProcesses });
    expect(Number(inside)).toBeLessThan(6);
    const optOut = await syncrun(d, sandy, { command: countProcesses, sandbox: 'none' });
    expect(optOut.status).toBe(400);
    expect(optOut.text).toMatch(/sandy runs in the isolated sandbox/);
    const optOutApp = await d.request('PUT', '/appmesh/app/sandy-escape', { token: sandy, body: { command: 'sleep 60', sandbox: 'none' } });
    expect(optOutApp.status).toBe(400);

    // The manager can neither lower it nor drop it by leaving the field out.
    const lowered = await d.request('PUT', '/appmesh/user/sandy', { token: manager, body: { group: 'sandy', roles: ['shell', 'view', 'manage'], sandbox: 'none' } });
    expect(lowered.status).toBe(400);
    const omitted = await d.request('PUT', '/appmesh/user/sandy', { token: manager, body: { group: 'sandy', roles: ['shell', 'view', 'manage'] } });
    expect(omitted.status).toBe(200);
    const after = (await (await d.request('GET', '/appmesh/users')).json()) as Record<string, Record<string, unknown>>;
    expect(after.sandy.sandbox).toBe('isolated');
    expect(Number((await lines(d, sandy, { command: countProcesses }))[0])).toBeLessThan(6);
    // A user object read back and sent unchanged is no change, even by a non-admin.
    const echoed = await d.request('PUT', '/appmesh/user/sandy', { token: manager, body: { group: 'sandy', roles: ['shell', 'view', 'manage'], sandbox: 'isolated' } });
    expect(echoed.status).toBe(200);

    // Admin may still run its own commands without a sandbox.
    expect(Number((await lines(d, d.token, { command: countProcesses, sandbox: 'none' }))[0])).toBeGreaterThan(10);
  });

  test('MCP run_command takes sandbox and network arguments', async () => {
    const agent = await mcpClient(d.url, iso);
    try {
      const connect = `${countProcesses}; (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo connected || echo refused`;
      const isolated = await call(agent, 'run_command', { command: connect, sandbox: 'isolated', yield_ms: 20_000 });
      expect(isolated.isError, JSON.stringify(isolated.content)).toBeFalsy();
      const [count, network] = String(isolated.structuredContent?.output).trim().split('\n');
      expect(Number(count)).toBeLessThan(6);
      expect(network).toBe('refused');
      const online = await call(agent, 'run_command', { command: connect, sandbox: 'isolated', network: true, yield_ms: 20_000 });
      expect(String(online.structuredContent?.output).trim().split('\n')[1]).toBe('connected');
      const plain = await call(agent, 'run_command', { command: connect, yield_ms: 20_000 });
      const [plainCount] = String(plain.structuredContent?.output).trim().split('\n');
      expect(Number(plainCount)).toBeGreaterThan(10);
    } finally {
      await agent.close();
    }
  });

  test('GET /appmesh/resources reports the sandbox as available', async () => {
    const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment?: { sandbox?: { isolated: boolean } } };
    expect(resources.containment?.sandbox?.isolated).toBe(true);
  });
});

describe('a host where bubblewrap is missing', () => {
  let d: TestDaemon;
  let user: string;
  let agent: Client | undefined;
  beforeAll(async () => {
    d = await startTestDaemon({ env: { APPMESH_BWRAP: '/nonexistent/bwrap' } });
    user = await addUser(d, 'nobwrap', ['shell', 'view', 'manage']);
  });
  afterAll(async () => {
    await agent?.close();
    await d?.stop();
  });

  test('isolated is refused with a 400 naming why; none still runs', async () => {
    const refused = await syncrun(d, user, { command: 'echo should-not-run', sandbox: 'isolated' });
    expect(refused.status).toBe(400);
    expect(refused.text).toMatch(/isolated sandbox is not available.*bubblewrap is not installed/);
    expect(refused.text).not.toContain('should-not-run');
    const app = await d.request('PUT', '/appmesh/app/isolated-app', { token: user, body: { command: 'sleep 60', sandbox: 'isolated' } });
    expect(app.status).toBe(400);
    expect((await d.request('GET', '/appmesh/app/isolated-app')).status).toBe(404);
    expect(await lines(d, user, { command: 'echo fine', sandbox: 'none' })).toEqual(['fine']);
    expect(await lines(d, user, { command: 'echo fine' })).toEqual(['fine']);
  });

  test('a default of isolated refuses too, instead of running unconfined', async () => {
    const set = await d.request('POST', '/appmesh/config', { body: { BaseConfig: { DefaultSandbox: 'isolated' } } });
    expect(set.status).toBe(200);
    try {
      const refused = await syncrun(d, user, { command: 'echo should-not-run' });
      expect(refused.status).toBe(400);
      expect(refused.text).toMatch(/bubblewrap is not installed/);
      expect(await lines(d, user, { command: 'echo fine', sandbox: 'none' })).toEqual(['fine']);
    } finally {
      await d.request('POST', '/appmesh/config', { body: { BaseConfig: { DefaultSandbox: 'none' } } });
    }
  });

  test('MCP run_command with sandbox isolated is an error naming why', async () => {
    agent = await mcpClient(d.url, user);
    const result = await call(agent, 'run_command', { command: 'echo should-not-run', sandbox: 'isolated' });
    expect(result.isError).toBe(true);
    expect(result.content.map((part) => part.text).join(' ')).toMatch(/bubblewrap is not installed/);
  });

  test('GET /appmesh/resources says isolated is unavailable, and why', async () => {
    const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment?: { sandbox?: { isolated: boolean; reason?: string } } };
    expect(resources.containment?.sandbox).toMatchObject({ isolated: false, reason: expect.stringMatching(/not installed/) });
  });
});
