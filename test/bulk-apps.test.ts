import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppMeshClient } from '../src/client/index.js';
import { AppmUser } from './helpers/appm-cli.js';
import { call, mcpClient } from './helpers/mcp-client.js';
import { ADMIN_PASSWORD, login, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

/** Enable, disable and delete many apps in one call, each authorised like its single call. */

interface BulkItem {
  name: string;
  outcome: 'changed' | 'unchanged' | 'refused' | 'not_found' | 'failed';
  message: string;
  status?: number;
}
interface BulkResult {
  action: string;
  results: BulkItem[];
  counts: Record<string, number>;
}

let d: TestDaemon;
let alice: string;
let mallory: string;
let viewer: string;

const PASSWORD = 'Bulk-Password-1';

async function bulk(body: unknown, token?: string): Promise<{ status: number; body: BulkResult & { message?: string } }> {
  const response = await d.request('POST', '/appmesh/applications/bulk', { body, token });
  return { status: response.status, body: (await response.json()) as BulkResult & { message?: string } };
}

const byName = (result: BulkResult) => Object.fromEntries(result.results.map((item) => [item.name, item]));

async function register(name: string, token: string, extra: Record<string, unknown> = {}): Promise<void> {
  const response = await d.request('PUT', `/appmesh/app/${name}`, { token, body: { command: 'sleep 600', ...extra } });
  expect(response.status, await response.clone().text()).toBe(200);
}

async function view(name: string): Promise<{ status: number; pid?: number; labels?: Record<string, string> } | undefined> {
  const response = await d.request('GET', `/appmesh/app/${name}`);
  return response.status === 200 ? ((await response.json()) as { status: number; pid?: number }) : undefined;
}

async function pidOf(name: string): Promise<number> {
  let pid: number | undefined;
  await waitFor(async () => (pid = (await view(name))?.pid) !== undefined, 10_000, `a process of ${name}`);
  return pid!;
}

beforeAll(async () => {
  d = await startTestDaemon();
  for (const [name, group, roles] of [['alice', 'a', ['manage', 'view']], ['mallory', 'm', ['manage', 'view']], ['viewer', 'a', ['view']]] as const) {
    const created = await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, group, roles } });
    expect(created.status, await created.clone().text()).toBe(200);
  }
  alice = await login(d.url, 'alice', PASSWORD);
  mallory = await login(d.url, 'mallory', PASSWORD);
  viewer = await login(d.url, 'viewer', PASSWORD);
}, 60_000);

afterAll(async () => {
  await d?.stop();
});

describe('bulk operations on apps', () => {
  test('a hostile user naming others\' apps is refused per app, and nothing of theirs stops', async () => {
    await register('victim-1', alice);
    await register('victim-2', alice, { permission: 22 });
    await register('mine-1', mallory);
    const pids = await Promise.all(['victim-1', 'victim-2', 'mine-1'].map(pidOf));
    for (const action of ['disable', 'delete']) {
      const { status, body } = await bulk({ action, names: ['victim-1', 'victim-2', 'mine-1', 'ghost'] }, mallory);
      expect(status).toBe(200);
      const items = byName(body);
      expect(items['victim-1'].outcome).toBe('refused');
      expect(items['victim-1'].message).toMatch(/not allowed/);
      expect(items['victim-2'].outcome).toBe('refused');
      expect(items.ghost.outcome).toBe('not_found');
      expect(items['mine-1'].outcome).toBe('changed');
    }
    expect((await processAlive(pids[0])) && (await processAlive(pids[1]))).toBe(true);
    expect((await view('victim-1'))?.status).toBe(1);
    expect((await view('victim-2'))?.status).toBe(1);
    expect(await view('mine-1')).toBeUndefined();
    await waitFor(async () => !(await processAlive(pids[2])), 10_000, 'the deleted app\'s process to end');
  });

  test('"all" reaches only the apps the caller may see; readable but not writable ones are listed as refused', async () => {
    await register('m-private', mallory);
    await register('m-readable', mallory, { permission: 22 });
    await register('a-own', alice);
    const privatePid = await pidOf('m-private');
    const { status, body } = await bulk({ action: 'disable', all: true }, alice);
    expect(status).toBe(200);
    const items = byName(body);
    expect(items['a-own'].outcome).toBe('changed');
    expect(items['victim-1'].outcome).toBe('changed');
    expect(items['m-readable'].outcome).toBe('refused');
    // Never named, never touched: alice cannot see it.
    expect(items['m-private']).toBeUndefined();
    expect(await processAlive(privatePid)).toBe(true);
    expect((await view('m-readable'))?.status).toBe(1);
    expect(body.counts.refused).toBe(1);
    // A caller without app-control: every app it sees is refused, none changes.
    const refused = await bulk({ action: 'enable', all: true }, viewer);
    expect(refused.status).toBe(200);
    expect(refused.body.counts.changed).toBe(0);
    expect(refused.body.results.every((item) => item.outcome === 'refused')).toBe(true);
    expect((await view('a-own'))?.status).toBe(0);
    await bulk({ action: 'delete', all: true }, alice);
    await bulk({ action: 'delete', all: true }, mallory);
  });

  test('a label selector picks the apps; their processes are really gone, the others run on, and enable brings them back', async () => {
    await register('web-a', d.token, { labels: { team: 'a', tier: 'web' } });
    await register('job-a', d.token, { labels: { team: 'a' } });
    await register('web-b', d.token, { labels: { team: 'b', tier: 'web' } });
    await register('bare', d.token);
    expect((await view('web-a'))?.labels).toEqual({ team: 'a', tier: 'web' });
    const pids = Object.fromEntries(await Promise.all(['web-a', 'job-a', 'web-b', 'bare'].map(async (name) => [name, await pidOf(name)] as const)));
    const commits = d.daemon.supervisor.store.stats.commits;
    const { status, body } = await bulk({ action: 'disable', selector: 'team=a, tier' });
    expect(status).toBe(200);
    expect(body.results).toEqual([{ name: 'web-a', outcome: 'changed', message: 'Disable web-a success.' }]);
    expect(await processAlive(pids['web-a'])).toBe(false);
    expect((await processAlive(pids['job-a'])) && (await processAlive(pids['web-b'])) && (await processAlive(pids.bare))).toBe(true);
    // One durable write for the change.
    expect(d.daemon.supervisor.store.stats.commits - commits).toBe(1);

    const several = await bulk({ action: 'disable', selector: 'tier!=web' });
    expect(several.body.results.map((item) => item.name).sort()).toEqual(['bare', 'job-a']);
    expect((await processAlive(pids['job-a'])) || (await processAlive(pids.bare))).toBe(false);
    expect(await processAlive(pids['web-b'])).toBe(true);

    const again = await bulk({ action: 'disable', names: ['job-a', 'web-b'], selector: '!tier' });
    expect(again.body.results).toEqual([{ name: 'job-a', outcome: 'unchanged', message: 'Application job-a is already disabled.' }]);

    const enabled = await bulk({ action: 'enable', selector: 'team' });
    expect(enabled.body.counts.changed).toBe(2);
    await pidOf('web-a');
    await pidOf('job-a');
    expect((await view('bare'))?.pid).toBeUndefined();
  });

  test('delete by names removes the apps and their processes at once; the change survives a restart', async () => {
    const names = Array.from({ length: 20 }, (_, index) => `many-${index}`);
    await Promise.all(names.map((name) => register(name, d.token, { labels: { batch: 'one' } })));
    const pids = await Promise.all(names.map(pidOf));
    const { body } = await bulk({ action: 'delete', selector: 'batch=one' });
    expect(body.counts.changed).toBe(20);
    expect(await Promise.all(pids.map(processAlive))).not.toContain(true);
    for (const name of names) expect(await view(name)).toBeUndefined();
    await d.restart();
    for (const name of names) expect(await view(name)).toBeUndefined();
    expect((await view('web-b'))?.status).toBe(1);
    expect((await view('bare'))?.status).toBe(0);
  }, 60_000);

  test('a bulk stop ends apps that restart on exit for good, and a tree that ignores SIGTERM is killed after the grace period', async () => {
    await register('restarter', d.token, { behavior: { exit: 'restart' }, labels: { kind: 'hard' } });
    await register('stubborn', d.token, { command: "trap '' TERM; sleep 600", shell: true, labels: { kind: 'hard' } });
    const pids = await Promise.all(['restarter', 'stubborn'].map(pidOf));
    const { body } = await bulk({ action: 'disable', selector: 'kind=hard' });
    expect(body.counts.changed).toBe(2);
    expect(await Promise.all(pids.map(processAlive))).not.toContain(true);
    // Nothing comes back: the exit of a disabled app takes no exit action.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await view('restarter'))?.pid).toBeUndefined();
    // A stopped process acts on SIGTERM only once continued: the app's own stop continues it.
    await register('frozen', d.token, { labels: { kind: 'hard' } });
    const frozen = await pidOf('frozen');
    process.kill(frozen, 'SIGSTOP');
    expect((await bulk({ action: 'delete', names: ['frozen'] })).body.counts.changed).toBe(1);
    expect(await processAlive(frozen)).toBe(false);
    await register('restarter', d.token, { behavior: { exit: 'restart' }, labels: { kind: 'hard' } });
    const again = await pidOf('restarter');
    expect((await bulk({ action: 'delete', selector: 'kind=hard' })).body.counts.changed).toBe(2);
    expect(await processAlive(again)).toBe(false);
    expect(await view('restarter')).toBeUndefined();
  }, 30_000);

  test('a bulk disable racing a replacement of the same app leaves on disk what is in memory', async () => {
    const names = Array.from({ length: 8 }, (_, index) => `racer-${index}`);
    await Promise.all(names.map((name) => register(name, d.token, { command: 'sleep 601' })));
    // Each replacement is sent first, the bulk call right behind it: the replacement is still waiting for its write.
    await Promise.all([
      ...names.map((name) => d.request('PUT', `/appmesh/app/${name}`, { body: { command: 'sleep 602' } })),
      bulk({ action: 'disable', names }),
    ]);
    const before = await Promise.all(names.map(async (name) => ({ command: ((await (await d.request('GET', `/appmesh/app/${name}`)).json()) as { command: string }).command, status: (await view(name))?.status })));
    await d.restart();
    const after = await Promise.all(names.map(async (name) => ({ command: ((await (await d.request('GET', `/appmesh/app/${name}`)).json()) as { command: string }).command, status: (await view(name))?.status })));
    expect(after).toEqual(before);
    await bulk({ action: 'delete', names });
  }, 60_000);

  test('"all" and a selector without names need the listing permission; named apps are refused one by one', async () => {
    expect((await d.request('PUT', '/appmesh/user/nobody', { body: { key: PASSWORD, group: 'n', roles: [] } })).status).toBe(200);
    const nobody = await login(d.url, 'nobody', PASSWORD);
    await register('listed', d.token, { permission: 33 });
    for (const body of [{ action: 'disable', all: true }, { action: 'delete', selector: 'team' }]) {
      const { status, body: answer } = await bulk(body, nobody);
      expect(status).toBe(400);
      expect(answer.message).toMatch(/app-view-all/);
    }
    const named = await bulk({ action: 'delete', names: ['listed'] }, nobody);
    expect(named.status).toBe(200);
    expect(named.body.results).toEqual([{ name: 'listed', outcome: 'refused', status: 400, message: "Permission denied: user 'nobody' lacks required permission 'app-delete'" }]);
    expect((await view('listed'))?.status).toBe(1);
    await bulk({ action: 'delete', names: ['listed'] });
  });

  test('a malformed request is a 400 with a message, and changes nothing', async () => {
    await register('stays', d.token);
    const cases: unknown[] = [
      null,
      [],
      'disable',
      {},
      { action: 'stop', all: true },
      { action: 'disable' },
      { action: 'disable', names: [] },
      { action: 'disable', names: 'stays' },
      { action: 'disable', names: ['../stays'] },
      { action: 'disable', names: ['stays'], all: true },
      { action: 'disable', all: true, extra: 1 },
      { action: 'disable', selector: '' },
      { action: 'disable', selector: '=a' },
      { action: 'disable', selector: 'a=b=c' },
      { action: 'disable', selector: '!a=b' },
      { action: 'disable', names: Array.from({ length: 10_001 }, (_, index) => `n${index}`) },
    ];
    for (const body of cases) {
      const { status, body: answer } = await bulk(body);
      expect(status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(typeof answer.message).toBe('string');
    }
    expect((await view('stays'))?.status).toBe(1);
    expect((await d.request('POST', '/appmesh/applications/bulk', { body: { action: 'disable', all: true }, token: null })).status).toBe(401);
  });

  test('the same call through MCP, the typed client and appm', async () => {
    await register('face-mine', alice, { labels: { face: 'x' } });
    await register('face-other', mallory, { labels: { face: 'x' }, permission: 22 });
    const mcp = await mcpClient(d.url, alice);
    try {
      const result = await call(mcp, 'bulk_apps', { action: 'disable', selector: 'face=x' });
      expect(result.isError).toBeFalsy();
      const items = byName(result.structuredContent as unknown as BulkResult);
      expect(items['face-mine'].outcome).toBe('changed');
      expect(items['face-other'].outcome).toBe('refused');
      const malformed = await call(mcp, 'bulk_apps', { action: 'disable' });
      expect(malformed.isError).toBe(true);
    } finally {
      await mcp.close();
    }

    const client = new AppMeshClient({ url: d.url });
    await client.login('alice', PASSWORD);
    const enabled = await client.apps.bulk('enable', { names: ['face-mine', 'face-other'] });
    expect(enabled.counts).toMatchObject({ changed: 1, refused: 1 });
    expect((await view('face-other'))?.status).toBe(1);

    const person = await AppmUser.create();
    try {
      expect((await person.run(['logon', '-H', d.url, '-U', 'admin', '-X', ADMIN_PASSWORD])).code).toBe(0);
      const added = await person.run(['add', '-a', 'face-cli', '-c', 'sleep 600', '--label', 'face=x', '--label', 'cli=yes']);
      expect(added.code, added.stderr).toBe(0);
      expect((await view('face-cli'))?.labels).toEqual({ face: 'x', cli: 'yes' });
      const disabled = await person.run(['disable', '-l', 'face=x']);
      expect(disabled.code, disabled.stderr).toBe(0);
      expect(disabled.stdout).toContain('Disable face-mine success.');
      expect(disabled.stdout).toContain('Disable face-other success.');
      expect(disabled.stdout).toContain('Disable face-cli success.');
      const restarted = await person.run(['restart', '-l', 'face', '-a', 'face-mine']);
      expect(restarted.code, restarted.stderr).toBe(0);
      expect((await view('face-mine'))?.status).toBe(1);
      expect((await view('face-other'))?.status).toBe(0);
      const missing = await person.run(['rm', '-a', 'face-mine', '-a', 'no-such-app', '-f']);
      expect(missing.code).toBe(1);
      expect(missing.stdout).toContain('Application face-mine removed.');
      expect(missing.stderr).toContain('no-such-app');
      expect((await person.run(['rm', '-l', 'face=x'])).code).toBe(1);
      expect((await view('face-other'))?.status).toBe(0);
      expect((await person.run(['rm', '-l', 'face=x', '-f'])).code).toBe(0);
      expect(await view('face-other')).toBeUndefined();
      expect((await person.run(['disable'])).code).toBe(2);
    } finally {
      await person.remove();
    }
  }, 60_000);
});
