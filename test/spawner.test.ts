import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Spawner } from '../src/containment/spawner.js';
import { launchProcess } from '../src/supervisor/process/process-launch.js';
import { getApp, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

/** The parent pid of a process, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Processes running exactly `sleep <mark>`. */
function sleepers(mark: string): number[] {
  const wanted = `sleep\0${mark}\0`;
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'latin1') === wanted;
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function runningPid(d: TestDaemon, name: string): Promise<number> {
  return waitFor(async () => {
    const pid = (await getApp(d, name)).pid;
    return typeof pid === 'number' && pid > 0 ? pid : undefined;
  }, 10_000, `${name} running`);
}

// The Node spawner forks every run where appmesh-launch (and its fork server) is not used, as
// with APPMESH_LAUNCHER=sh; test/fork-server.test.ts covers the fork server.
describe('process starts go through the spawner process', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ env: { APPMESH_LAUNCHER: 'sh' } });
  });
  afterAll(async () => {
    await d.stop();
  });

  test('a run is forked by the spawner: its parent is the spawner, a child of the daemon, never the daemon itself', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo $PPID', shell: true } });
    expect(response.status).toBe(200);
    const parent = Number((await response.text()).trim());
    expect(parent).toBeGreaterThan(1);
    expect(parent).not.toBe(process.pid);
    expect(parentOf(parent)).toBe(process.pid);
    expect(readFileSync(`/proc/${parent}/cmdline`, 'utf8').split('\0')[0]).toBe(process.execPath);
  });

  test('GET /appmesh/resources says the spawner forks', async () => {
    const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment: { launcher: Record<string, unknown> } };
    expect(resources.containment.launcher).toMatchObject({ spawner: 'process', spawner_program: 'node' });
  });

  test("a run holds no descriptor of the spawner's channel to the daemon (other runs' start requests pass there)", async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'ls -l /proc/self/fd/' } });
    const listing = await response.text();
    expect(listing).toMatch(/ 1 -> /);
    expect(listing).not.toMatch(/socket:/);
  });

  test('stdin text and the exit code pass through the spawner', async () => {
    const withInput = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'cat; exit 7', shell: true, metadata: 'from-stdin' } });
    expect(withInput.headers.get('x-exit-code')).toBe('7');
    expect(await withInput.text()).toBe('from-stdin');
  });

  test('the spawner killed with SIGKILL during a long run: the run is ended and reported, a new spawner starts new runs', async () => {
    // A tree: the leader and a child of its own.
    expect((await d.request('PUT', '/appmesh/app/long-sleeper', { body: { command: 'sleep 3017 & sleep 3018', shell: true } })).status).toBe(200);
    const pid = await runningPid(d, 'long-sleeper');
    await waitFor(() => sleepers('3017').length === 1, 10_000, 'the child of the run');
    const spawner = parentOf(pid);
    expect(spawner).not.toBe(process.pid);
    process.kill(spawner, 'SIGKILL');

    // The old run's process is ended by the daemon, and its exit says why.
    await waitFor(async () => !(await processAlive(pid)), 15_000, 'the orphaned run ended');
    await waitFor(() => sleepers('3017').length === 0, 15_000, 'the child of the orphaned run ended');
    const app = await waitFor(async () => {
      const view = await getApp(d, 'long-sleeper');
      return view.pid === undefined && String(view.last_error ?? '').includes('spawner') ? view : undefined;
    }, 15_000, 'the lost run reported');
    expect(String(app.last_error)).toMatch(/process spawner ended/);

    // New runs work, through a new spawner.
    const next = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo $PPID', shell: true } });
    expect(next.status).toBe(200);
    const newSpawner = Number((await next.text()).trim());
    expect(newSpawner).not.toBe(spawner);
    expect(newSpawner).not.toBe(process.pid);
    expect(parentOf(newSpawner)).toBe(process.pid);
    expect((await d.request('GET', '/appmesh/applications')).status).toBe(200);
  });
});

describe('APPMESH_SPAWNER=off', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ env: { APPMESH_SPAWNER: 'off' } });
  });
  afterAll(async () => {
    await d.stop();
  });

  test('the daemon forks runs itself, and says so', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo $PPID', shell: true } });
    expect(Number((await response.text()).trim())).toBe(process.pid);
    const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment: { launcher: { spawner?: string; spawner_reason?: string } } };
    expect(resources.containment.launcher).toMatchObject({ spawner: 'daemon', spawner_reason: expect.stringContaining('APPMESH_SPAWNER=off') });
  });
});

describe('a spawner that cannot start', () => {
  test('the start is forked by the daemon itself, with a warning, and later starts too', async () => {
    const warnings: string[] = [];
    const spawner = new Spawner((level, message) => {
      if (level === 'warn') warnings.push(message);
    });
    try {
      // Ended before it could say it is ready.
      process.kill(spawner.pid!, 'SIGKILL');
      const request = { file: 'true', args: [], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: '/', stdin: 'ignore' as const };
      const first = await launchProcess(request, spawner);
      expect(await first.exited).toMatchObject({ code: 0 });
      expect(spawner.disabledReason).toMatch(/did not start/);
      expect(warnings.join('\n')).toMatch(/started by the daemon itself/);
      const second = await launchProcess(request, spawner);
      expect(await second.exited).toMatchObject({ code: 0 });
      expect(warnings).toHaveLength(1);
    } finally {
      spawner.close();
    }
  });
});
