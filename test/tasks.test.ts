import { join } from 'node:path';
import { AppMeshClient } from 'appmesh';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, getApp, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

const WORKER = join(import.meta.dirname, 'fixtures', 'task-worker.mjs');

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
  const response = await d.request('PUT', '/appmesh/app/worker', {
    body: { command: `${process.execPath} ${WORKER}`, env: { DAEMON_URL: d.url }, behavior: { exit: 'restart' } },
  });
  expect(response.status).toBe(200);
  await waitFor(async () => (await getApp(d, 'worker')).task_status === 'idle', 15_000, 'the worker to wait for tasks');
});
afterAll(async () => {
  await d.stop();
});

const sendTask = (payload: string, query = '') => d.request('POST', `/appmesh/app/worker/task${query}`, { body: payload, headers: { 'Content-Type': 'text/plain' } });

describe('remote tasks', () => {
  test('client → running worker (npm server module) → client', async () => {
    const response = await sendTask('hello');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/octet-stream');
    expect(await response.text()).toBe('echo:hello');
    const app = await getApp(d, 'worker');
    expect(app.task_id).toBeGreaterThanOrEqual(1);
  });

  test('the npm client run_task round trip', async () => {
    const client = new AppMeshClient(d.url);
    await client.login('admin', ADMIN_PASSWORD);
    expect(await client.run_task('worker', 'from-sdk', 30)).toBe('echo:from-sdk');
  });

  test('several clients are served in order', async () => {
    const replies = await Promise.all(['a', 'b', 'c'].map(async (text) => (await sendTask(text)).text()));
    expect(replies).toEqual(['echo:a', 'echo:b', 'echo:c']);
  });

  test('a timeout answers 408', async () => {
    const response = await sendTask('slow', '?timeout=1');
    expect(response.status).toBe(408);
    // The worker finishes the slow task; its late reply is accepted and dropped, the worker lives on.
    const pid = (await getApp(d, 'worker')).pid;
    await waitFor(async () => (await getApp(d, 'worker')).task_status === 'idle', 15_000, 'the worker to be idle again');
    expect((await getApp(d, 'worker')).pid).toBe(pid);
  });

  test('cancel answers the waiting client 417, and 208 when nothing is active', async () => {
    const pending = sendTask('slow', '?timeout=30');
    await waitFor(async () => (await getApp(d, 'worker')).task_status === 'busy', 5_000, 'the task to be active');
    const cancel = await d.request('DELETE', '/appmesh/app/worker/task');
    expect(cancel.status).toBe(200);
    expect((await pending).status).toBe(417);
    const none = await d.request('DELETE', '/appmesh/app/worker/task');
    expect(none.status).toBe(208);
  });

  test('a worker that exits fails its pending task with 417, and the restarted worker serves again', async () => {
    const before = (await getApp(d, 'worker')).pid;
    const response = await sendTask('crash');
    expect(response.status).toBe(417);
    await waitFor(async () => {
      const app = await getApp(d, 'worker');
      return app.pid !== before && app.task_status === 'idle';
    }, 20_000, 'the restarted worker');
    expect(await (await sendTask('again')).text()).toBe('echo:again');
  });

  test('a wrong process key is 412; a reply without a task is 417; no running process is 400', async () => {
    const fetch = await d.request('GET', '/appmesh/app/worker/task?process_key=wrong', { token: null });
    expect(fetch.status).toBe(412);
    expect(await fetch.json()).toEqual({ message: 'Process key mismatch' });
    expect((await d.request('PUT', '/appmesh/app/worker/task?process_key=wrong', { token: null, body: 'x' })).status).toBe(412);
    await d.request('PUT', '/appmesh/app/idle-app', { body: { command: 'true' } });
    await waitFor(async () => (await getApp(d, 'idle-app')).return_code === 0, 10_000, 'the app to exit');
    const noProcess = await d.request('POST', '/appmesh/app/idle-app/task', { body: 'x', headers: { 'Content-Type': 'text/plain' } });
    expect(noProcess.status).toBe(400);
    expect(await noProcess.json()).toEqual({ message: 'No process running' });
    expect((await d.request('POST', '/appmesh/app/ghost/task', { body: 'x' })).status).toBe(404);
  });

  test('every process gets APP_MESH_PROCESS_KEY and APP_MESH_APPLICATION_NAME', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'env-probe', command: 'printenv APP_MESH_APPLICATION_NAME APP_MESH_PROCESS_KEY', shell: false } });
    const [name, key] = (await response.text()).trim().split('\n');
    expect(name).toBe('env-probe');
    expect(key.length).toBeGreaterThanOrEqual(24);
  });
});
