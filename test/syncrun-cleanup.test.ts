import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

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
