import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, login, newHome, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';
import { freePort } from './helpers/free-port.js';

// The daemon as users start it: the built entry point (`npm test` builds first).
const MAIN = join(import.meta.dirname, '..', 'dist', 'src', 'main.js');
const COUNT = 200;

const children: ChildProcess[] = [];
const homes: string[] = [];
let inProcess: TestDaemon | undefined;

async function startProcess(home: string): Promise<{ child: ChildProcess; url: string; token: string }> {
  const port = await freePort();
  const base = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('APPMESH_')));
  const child = spawn(process.execPath, [MAIN], {
    env: { ...base, APPMESH_HOME: home, APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, APPMESH_REST_RestListenPort: String(port), APPMESH_MQTT_Enabled: 'false' },
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

function register(url: string, token: string, name: string): Promise<Response> {
  // Disabled: the test is about the writes, not about 200 processes.
  return fetch(`${url}/appmesh/app/${name}`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ command: 'sleep 1000', status: 0, description: `group commit ${name}` }),
  });
}

afterEach(async () => {
  await inProcess?.stop();
  inProcess = undefined;
  for (const child of children.splice(0)) {
    child.kill('SIGTERM');
    await exited(child);
  }
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
});

describe('group commit of app definitions', () => {
  test(`${COUNT} concurrent registrations share far fewer durable writes, and each file holds its definition once answered`, async () => {
    const d = (inProcess = await startTestDaemon());
    const before = { ...d.daemon.supervisor.store.stats };
    const names = Array.from({ length: COUNT }, (_, index) => `gc-${index}`);
    const answers = await Promise.all(names.map((name) => register(d.url, d.token, name)));
    expect(answers.map((answer) => answer.status)).toEqual(names.map(() => 200));
    const after = d.daemon.supervisor.store.stats;
    const commits = after.commits - before.commits;
    expect(after.changes - before.changes).toBe(COUNT);
    expect(commits).toBeLessThan(COUNT / 4);
    for (const name of names) expect(readFileSync(join(d.home, 'apps', `${name}.yaml`), 'utf8')).toContain(`group commit ${name}`);
  }, 60_000);

  test('a change to one app queued behind others lands in the order of the calls: the last one wins on disk and in memory', async () => {
    const d = (inProcess = await startTestDaemon());
    const commands = Array.from({ length: 20 }, (_, index) => `sleep ${1000 + index}`);
    const answers = await Promise.all(commands.map((command) => d.request('PUT', '/appmesh/app/ordered', { body: { command, status: 0 } })));
    expect(answers.map((answer) => answer.status)).toEqual(commands.map(() => 200));
    // The answers come in call order here (one connection per request, sent in order), so the last one is the latest.
    const view = (await (await d.request('GET', '/appmesh/app/ordered')).json()) as { command: string };
    expect(readFileSync(join(d.home, 'apps', 'ordered.yaml'), 'utf8')).toContain(`command: ${view.command}`);
    expect(await d.request('DELETE', '/appmesh/app/ordered').then((r) => r.status)).toBe(200);
    expect(readdirSync(join(d.home, 'apps')).filter((name) => name.startsWith('ordered'))).toEqual([]);
  }, 60_000);

  test('journals a crash left behind are applied at start, oldest first, then removed', async () => {
    const home = await newHome();
    homes.push(home);
    const apps = join(home, 'apps');
    await mkdir(apps, { recursive: true, mode: 0o700 });
    await writeFile(join(apps, 'doomed.yaml'), 'name: doomed\ncommand: sleep 1000\nstatus: 0\n', { mode: 0o600 });
    // The newest journal's content wins; a removal in it takes away a file written before.
    await writeFile(join(apps, '.journal-7.json'), JSON.stringify([['replayed', 'name: replayed\ncommand: sleep 1001\nstatus: 0\n']]), { mode: 0o600 });
    await writeFile(join(apps, '.journal-12.json'), JSON.stringify([['replayed', 'name: replayed\ncommand: sleep 1002\nstatus: 0\n'], ['doomed', null]]), { mode: 0o600 });
    const d = (inProcess = await startTestDaemon({ home }));
    const listed = (await (await d.request('GET', '/appmesh/applications')).json()) as { name: string; command: string }[];
    expect(listed.find((app) => app.name === 'replayed')?.command).toBe('sleep 1002');
    expect(listed.some((app) => app.name === 'doomed')).toBe(false);
    expect(readdirSync(apps).filter((name) => name.startsWith('.journal-'))).toEqual([]);
    expect(readFileSync(join(apps, 'replayed.yaml'), 'utf8')).toContain('sleep 1002');
  }, 60_000);

  describe.runIf(process.platform === 'linux')('a daemon killed with -9', () => {
    test(`keeps all ${COUNT} registrations it acknowledged`, async () => {
      const home = await newHome();
      homes.push(home);
      const first = await startProcess(home);
      const names = Array.from({ length: COUNT }, (_, index) => `kept-${index}`);
      const answers = await Promise.all(names.map((name) => register(first.url, first.token, name)));
      first.child.kill('SIGKILL');
      expect(answers.map((answer) => answer.status)).toEqual(names.map(() => 200));
      await exited(first.child);

      const second = await startProcess(home);
      const listed = (await (await fetch(`${second.url}/appmesh/applications`, { headers: { Authorization: `Bearer ${second.token}` } })).json()) as { name: string }[];
      const kept = new Set(listed.map((app) => app.name));
      expect(names.filter((name) => !kept.has(name))).toEqual([]);
      // What the crash left to replay was applied and cleared at start.
      expect(readdirSync(join(home, 'apps')).filter((name) => name.startsWith('.journal-'))).toEqual([]);
    }, 60_000);
  });
});
