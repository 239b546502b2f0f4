import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

/** A syncrun's reply is its whole output and exit code; the run is gone from the API at once, and its files soon after. */
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

test('after the reply the run cannot be read any more, and nothing of it is left on disk', async () => {
  const response = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'cleanup-run', command: 'printf done' } });
  expect(response.status).toBe(200);
  expect(response.headers.get('x-exit-code')).toBe('0');
  expect(await response.text()).toBe('done');
  expect((await d.request('GET', '/appmesh/app/cleanup-run')).status).toBe(404);
  const listed = (await (await d.request('GET', '/appmesh/applications?include_finished_runs=true')).json()) as { name: string }[];
  expect(listed.map((app) => app.name)).not.toContain('cleanup-run');
  // Its output file and crash-recovery record go right after the reply.
  expect(existsSync(join(d.home, 'work', 'stdout'))).toBe(true);
  await waitFor(() => !existsSync(join(d.home, 'work', 'stdout', 'appmesh.cleanup-run.out')) && readdirSync(join(d.home, 'runs')).length === 0, 5000, 'the run\'s files removed');
  // The name is free again for the next run.
  const again = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'cleanup-run', command: 'printf again' } });
  expect(await again.text()).toBe('again');
});

test('a client that hangs up ends its syncrun: the command goes, and the run with it', async () => {
  const controller = new AbortController();
  const pending = fetch(`${d.url}/appmesh/app/syncrun`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'hung-up-run', command: 'sleep 60' }),
    signal: controller.signal,
  }).catch(() => undefined);
  const pid = await waitFor(async () => {
    const response = await d.request('GET', '/appmesh/app/hung-up-run');
    if (response.status !== 200) return undefined;
    return ((await response.json()) as { pid?: number }).pid;
  }, 10_000, 'the run started');
  expect(await processAlive(pid)).toBe(true);
  controller.abort();
  await pending;
  await waitFor(async () => !(await processAlive(pid)), 10_000, 'the command ended');
  await waitFor(async () => (await d.request('GET', '/appmesh/app/hung-up-run')).status === 404, 10_000, 'the run removed');
});

test('an app registered under the name of a run that just went reads none of that run\'s output', async () => {
  for (let round = 0; round < 5; round++) {
    const run = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'reused-name', command: `printf secret-of-run-${round}` } });
    expect(await run.text()).toBe(`secret-of-run-${round}`);
    const registered = await d.request('PUT', '/appmesh/app/reused-name', { body: { command: 'sleep 60', status: 0 } });
    expect(registered.status).toBe(200);
    const output = await d.request('GET', '/appmesh/app/reused-name/output');
    expect(output.status).toBe(200);
    expect(await output.text()).toBe('');
    expect((await d.request('DELETE', '/appmesh/app/reused-name')).status).toBe(200);
  }
});
