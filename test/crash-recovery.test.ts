import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterEach, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, login, newHome, waitFor } from './helpers/test-daemon.js';
import { ok } from './helpers/mcp-client.js';
import { freePort } from './helpers/free-port.js';

// The daemon and the stdio server as users start them: the built entry points (`npm test` builds first).
const MAIN = join(import.meta.dirname, '..', 'dist', 'src', 'main.js');
const STDIO = join(import.meta.dirname, '..', 'dist', 'tools', 'stdio.js');
const onLinux = process.platform === 'linux';

/** Pids of the processes whose argv is exactly `argv` (how many copies of an app run). */
function pidsOf(...argv: string[]): number[] {
  const wanted = `${argv.join('\0')}\0`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === wanted) pids.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return pids;
}

/** Unique sleep durations per test: the processes of parallel tests never look alike. */
function marks(count: number): string[] {
  const base = 500_000 + Math.floor(Math.random() * 400_000) * 10;
  return Array.from({ length: count }, (_, index) => String(base + index));
}


const children: ChildProcess[] = [];
const homes: string[] = [];
const sleepers: string[] = [];

async function startProcess(home: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string; token: string }> {
  const port = await freePort();
  const base = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('APPMESH_')));
  const child = spawn(process.execPath, [MAIN], {
    env: { ...base, APPMESH_HOME: home, APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, APPMESH_REST_RestListenPort: String(port), APPMESH_MQTT_Enabled: 'false', ...env },
    stdio: 'ignore',
  });
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/appmesh/readyz`).catch(() => undefined))?.status === 200, 20_000, `the daemon on ${url}`);
  return { child, url, token: await login(url, 'admin', ADMIN_PASSWORD) };
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

async function api(url: string, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${url}${path}`, { method, headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGTERM');
    await exited(child);
  }
  // Whatever a failed test left running goes (the fix under test may be missing).
  for (const mark of sleepers.splice(0)) for (const pid of pidsOf('sleep', mark)) process.kill(pid, 'SIGKILL');
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
});

for (const cgroups of ['on', 'off'] as const) {
  describe.runIf(onLinux)(`a daemon killed with -9 (cgroups ${cgroups})`, () => {
    test('the restarted daemon ends what its predecessor left running and runs each app exactly once', async () => {
      const env: Record<string, string> = cgroups === 'off' ? { APPMESH_CGROUPS: 'off' } : {};
      const home = await newHome();
      homes.push(home);
      const [plain, leader, escaped, oneshot] = marks(4);
      sleepers.push(plain, leader, escaped, oneshot);
      const first = await startProcess(home, env);
      expect((await api(first.url, first.token, 'PUT', '/appmesh/app/plain', { command: `sleep ${plain}`, behavior: { exit: 'restart' } })).status).toBe(200);
      // Half of it leaves the process group (a new session): only its cgroup or its environment still ties it to the app.
      expect((await api(first.url, first.token, 'PUT', '/appmesh/app/escaper', { command: `setsid sleep ${escaped} & exec sleep ${leader}`, shell: true })).status).toBe(200);
      expect((await api(first.url, first.token, 'POST', '/appmesh/app/run?timeout=0&lifecycle=600', { command: `sleep ${oneshot}` })).status).toBe(200);
      await waitFor(() => [plain, leader, escaped, oneshot].every((mark) => pidsOf('sleep', mark).length === 1), 10_000, 'every process');
      const before = [plain, leader, escaped, oneshot].map((mark) => pidsOf('sleep', mark)[0]);

      first.child.kill('SIGKILL');
      await exited(first.child);
      // Nobody supervises them now.
      expect([plain, leader, escaped, oneshot].map((mark) => pidsOf('sleep', mark))).toEqual(before.map((pid) => [pid]));

      const second = await startProcess(home, env);
      // The managed apps run again, once each and afresh; the one-shot run is over.
      await waitFor(() => pidsOf('sleep', plain).length === 1 && pidsOf('sleep', leader).length === 1 && pidsOf('sleep', escaped).length === 1, 10_000, 'the restarted apps');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const after = [plain, leader, escaped].map((mark) => pidsOf('sleep', mark));
      expect(after.map((pids) => pids.length)).toEqual([1, 1, 1]);
      for (const [index, pids] of after.entries()) expect(pids[0]).not.toBe(before[index]);
      expect(pidsOf('sleep', oneshot)).toEqual([]);
      const view = (await (await api(second.url, second.token, 'GET', '/appmesh/app/plain')).json()) as { pid: number };
      expect(view.pid).toBe(after[0][0]);

      // A normal stop ends everything, escaped processes too, and leaves no record behind.
      second.child.kill('SIGTERM');
      await exited(second.child);
      expect([plain, leader, escaped].map((mark) => pidsOf('sleep', mark))).toEqual([[], [], []]);
      expect(readdirSync(join(home, 'runs'))).toEqual([]);
    }, 60_000);
  });
}

describe.runIf(onLinux)('the in-process stdio server', () => {
  test('stops what it started when its client closes stdin; the next session runs the app once', async () => {
    const home = await newHome();
    homes.push(home);
    const [mark, escaped] = marks(2);
    sleepers.push(mark, escaped);
    const base = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('APPMESH_')));
    const session = async () => {
      const transport = new StdioClientTransport({ command: process.execPath, args: [STDIO], env: { ...base, APPMESH_HOME: home, APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, APPMESH_PASSWORD: ADMIN_PASSWORD }, stderr: 'ignore' });
      const client = new Client({ name: 'crash-recovery-test', version: '1.0.0' });
      await client.connect(transport);
      return { client, transport };
    };

    const first = await session();
    await ok(first.client, 'add_app', { app: { name: 'service', command: `setsid sleep ${escaped} & exec sleep ${mark}`, shell: true, behavior: { exit: 'restart' } } });
    await waitFor(() => pidsOf('sleep', mark).length === 1 && pidsOf('sleep', escaped).length === 1, 10_000, 'the service');
    const pid = first.transport.pid!;
    const started = Date.now();
    // close() ends stdin and waits up to 2 s before it sends SIGTERM: the server must go on end-of-file.
    await first.client.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(() => process.kill(pid, 0)).toThrow();
    expect([pidsOf('sleep', mark), pidsOf('sleep', escaped)]).toEqual([[], []]);

    const second = await session();
    await waitFor(() => pidsOf('sleep', mark).length === 1 && pidsOf('sleep', escaped).length === 1, 10_000, 'the service again');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([pidsOf('sleep', mark).length, pidsOf('sleep', escaped).length]).toEqual([1, 1]);
    // Killed outright, the session leaves its trees to the next one, which ends them before anything starts.
    const orphans = [...pidsOf('sleep', mark), ...pidsOf('sleep', escaped)];
    process.kill(second.transport.pid!, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([...pidsOf('sleep', mark), ...pidsOf('sleep', escaped)]).toEqual(orphans);
    const third = await session();
    await waitFor(() => pidsOf('sleep', mark).length === 1 && pidsOf('sleep', escaped).length === 1, 10_000, 'the service once more');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const fresh = [...pidsOf('sleep', mark), ...pidsOf('sleep', escaped)];
    expect(fresh).toHaveLength(2);
    for (const pid of orphans) expect(fresh).not.toContain(pid);
    await third.client.close();
    expect([pidsOf('sleep', mark), pidsOf('sleep', escaped)]).toEqual([[], []]);
    expect(readdirSync(join(home, 'runs'))).toEqual([]);
  }, 60_000);
});
