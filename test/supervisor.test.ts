import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getApp, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

async function register(name: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await d.request('PUT', `/appmesh/app/${name}`, { body: { name, ...body } });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

const pidOf = (name: string) => waitFor(async () => (await getApp(d, name)).pid as number | undefined, 10_000, `${name} to run`);

/** Reads a pid the app wrote into its output (the shell's background child). */
async function outputPids(name: string): Promise<number[]> {
  const response = await d.request('GET', `/appmesh/app/${name}/output`);
  return (await response.text()).split('\n').filter(Boolean).map(Number);
}

describe('long-running applications', () => {
  test('register, list, disable (whole tree gone), enable (running again), delete', async () => {
    const app = await register('tree', { command: 'sleep 300 & echo $!; wait', shell: true });
    expect(app).toMatchObject({ name: 'tree', owner: 'admin', status: 1, behavior: { exit: 'standby' } });
    const pid = await pidOf('tree');
    const [grandchild] = await waitFor(async () => ((await outputPids('tree')).length ? outputPids('tree') : undefined), 10_000, 'the child pid');
    expect(await processAlive(pid)).toBe(true);
    expect(await processAlive(grandchild)).toBe(true);

    const list = (await (await d.request('GET', '/appmesh/applications')).json()) as { name: string }[];
    expect(list.map((entry) => entry.name)).toContain('tree');

    const disabled = await d.request('POST', '/appmesh/app/tree/disable');
    expect(await disabled.json()).toEqual({ message: 'Disable tree success.' });
    await waitFor(async () => !(await processAlive(pid)) && !(await processAlive(grandchild)), 10_000, 'the process tree to stop');
    const view = await getApp(d, 'tree');
    expect(view.status).toBe(0);
    expect(view.pid).toBeUndefined();

    expect((await d.request('POST', '/appmesh/app/tree/disable')).status).toBe(200);
    expect((await d.request('POST', '/appmesh/app/tree/enable')).status).toBe(200);
    const newPid = await pidOf('tree');
    expect(newPid).not.toBe(pid);
    expect(await processAlive(newPid)).toBe(true);

    const deleted = await d.request('DELETE', '/appmesh/app/tree');
    expect(await deleted.json()).toEqual({ message: 'Application tree removed.' });
    await waitFor(async () => !(await processAlive(newPid)), 10_000, 'the process to stop on delete');
    expect((await d.request('GET', '/appmesh/app/tree')).status).toBe(404);
    expect(existsSync(join(d.home, 'apps', 'tree.yaml'))).toBe(false);
    const again = await d.request('DELETE', '/appmesh/app/tree');
    expect(again.status).toBe(404);
    expect(await again.text()).toBe('');
  });

  test('a restart app comes back after kill -9', async () => {
    await register('phoenix', { command: 'sleep 300', behavior: { exit: 'restart' } });
    const pid = await pidOf('phoenix');
    process.kill(pid, 'SIGKILL');
    const next = await waitFor(async () => {
      const view = await getApp(d, 'phoenix');
      return typeof view.pid === 'number' && view.pid !== pid ? view : undefined;
    }, 15_000, 'the restart');
    expect(next.starts).toBe(2);
    expect(next.return_code).toBe(-9);
    expect(String(next.last_error)).toMatch(/exited with return code: -9/);
    await d.request('DELETE', '/appmesh/app/phoenix');
  });

  test('standby stays stopped; a control code overrides the exit action', async () => {
    await register('once', { command: 'exit 0', shell: true });
    await register('again', { command: 'exit 7', shell: true, behavior: { exit: 'standby', control: { '7': 'keepalive' } } });
    await waitFor(async () => ((await getApp(d, 'again')).starts as number) >= 3 || undefined, 15_000, 'keepalive restarts');
    const once = await getApp(d, 'once');
    expect(once.starts).toBe(1);
    expect(once.return_code).toBe(0);
    await d.request('DELETE', '/appmesh/app/once');
    await d.request('DELETE', '/appmesh/app/again');
  });

  test('the remove action deletes the app after it exits', async () => {
    await register('ephemeral', { command: 'true', behavior: { exit: 'remove' } });
    await waitFor(async () => (await d.request('GET', '/appmesh/app/ephemeral')).status === 404, 10_000, 'removal');
  });

  test('an app outside its time window does not start', async () => {
    const future = Math.floor(Date.now() / 1000) + 3600;
    const view = await register('later', { command: 'sleep 10', start_time: future });
    expect(view.start_time).toBe(future);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const app = await getApp(d, 'later');
    expect(app.pid).toBeUndefined();
    expect(app.next_start_time).toBe(future);
    await d.request('DELETE', '/appmesh/app/later');
  });

  test('keeps stdout_cache_num previous outputs', async () => {
    await register('history', { command: 'date +%s%N', stdout_cache_num: 2, behavior: { exit: 'keepalive' } });
    await waitFor(async () => ((await getApp(d, 'history')).starts as number) >= 4 || undefined, 20_000, 'four runs');
    const app = await getApp(d, 'history');
    expect(app.stdout_cache_size).toBe(3);
    for (const index of [0, 1, 2]) {
      const response = await d.request('GET', `/appmesh/app/history/output?stdout_index=${index}`);
      expect(response.status).toBe(200);
    }
    expect((await d.request('GET', '/appmesh/app/history/output?stdout_index=3')).status).toBe(417);
    await d.request('DELETE', '/appmesh/app/history');
  });

  test('a health check command decides the health', async () => {
    await register('checked', { command: 'sleep 300', health_check_cmd: 'false' });
    await pidOf('checked');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await (await d.request('GET', '/appmesh/app/checked/health', { token: null })).text()).toBe('1');
    await register('checked', { command: 'sleep 300', health_check_cmd: 'true' });
    await waitFor(async () => (await (await d.request('GET', '/appmesh/app/checked/health', { token: null })).text()) === '0', 10_000, 'healthy');
    await d.request('DELETE', '/appmesh/app/checked');
  });
});

describe('resource limits', () => {
  test('a process tree above resource_limit.memory_mb is stopped, and its exit action applies', async () => {
    await register('hog', {
      command: 'python3 -c "import time; x = bytearray(80 * 1024 * 1024); x[::4096] = b\'1\' * len(x[::4096]); time.sleep(300)"',
      resource_limit: { memory_mb: 30 },
      behavior: { exit: 'standby' },
    });
    const app = await waitFor(async () => {
      const view = await getApp(d, 'hog');
      return view.return_code !== undefined ? view : undefined;
    }, 15_000, 'the memory limit to stop the app');
    expect(app.pid).toBeUndefined();
    expect(String(app.last_error)).toMatch(/exceeded resource_limit.memory_mb 30/);
    await d.request('DELETE', '/appmesh/app/hog');
  });
});

describe('recurring applications', () => {
  test('an interval app runs repeatedly on its grid', async () => {
    const view = await register('ticker', { command: 'echo tick', start_interval_seconds: 'PT1S' });
    expect(view.start_interval_seconds).toBe('1');
    const app = await waitFor(async () => {
      const current = await getApp(d, 'ticker');
      return (current.starts as number) >= 3 ? current : undefined;
    }, 15_000, 'three interval runs');
    expect(app.next_start_time).toBeGreaterThan(0);
    await d.request('DELETE', '/appmesh/app/ticker');
  });

  test('a cron app fires on its 6-field schedule', async () => {
    const view = await register('cronjob', { command: 'echo cron', start_interval_seconds: '*/1 * * * * *', cron: true });
    expect(view.cron).toBe(true);
    await waitFor(async () => ((await getApp(d, 'cronjob')).starts as number) >= 2 || undefined, 15_000, 'two cron runs');
    // A run starting every second: the current one may have just begun and written nothing yet.
    const output = await waitFor(async () => (await (await d.request('GET', '/appmesh/app/cronjob/output')).text()) || undefined, 5_000, 'the output of a cron run');
    expect(output).toBe('cron\n');
    await d.request('DELETE', '/appmesh/app/cronjob');
  });

  test('a bad cron expression is refused', async () => {
    const response = await d.request('PUT', '/appmesh/app/badcron', { body: { command: 'true', start_interval_seconds: '* * * * *', cron: true } });
    expect(response.status).toBe(400);
  });
});

describe('persistence', () => {
  test('apps survive a daemon restart and are started again; sec_env is stored encrypted', async () => {
    await register('survivor', { command: 'printenv SECRET_VALUE; exec sleep 300', shell: true, sec_env: { SECRET_VALUE: 'plain-text-secret' }, env: { MODE: 'x' } });
    const pid = await pidOf('survivor');
    const stored = await readFile(join(d.home, 'apps', 'survivor.yaml'), 'utf8');
    expect(stored).not.toContain('plain-text-secret');
    expect(stored).toContain('SECRET_VALUE');

    await d.restart();
    expect(await processAlive(pid)).toBe(false);
    const newPid = await pidOf('survivor');
    expect(newPid).not.toBe(pid);
    const view = await getApp(d, 'survivor');
    expect(view.env).toEqual({ MODE: 'x' });
    expect(view.sec_env).toBeUndefined();
    // The secret was decrypted from the store for the new run.
    await waitFor(async () => (await (await d.request('GET', '/appmesh/app/survivor/output')).text()) === 'plain-text-secret\n', 10_000, 'the secret in the output');
    await d.request('DELETE', '/appmesh/app/survivor');
  });
});
