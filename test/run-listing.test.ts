import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';
import { mcpClient, ok } from './helpers/mcp-client.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

async function listedNames(query = ''): Promise<string[]> {
  const response = await d.request('GET', `/appmesh/applications${query}`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { name: string }[]).map((app) => app.name);
}

async function finished(name: string): Promise<void> {
  await waitFor(async () => ((await (await d.request('GET', `/appmesh/app/${name}`)).json()) as { return_code?: number }).return_code !== undefined, 10_000, `the end of ${name}`);
}

describe('runs in the application list', () => {
  test('a finished run leaves the list unless asked for; running runs and managed apps stay; the handle still answers', async () => {
    expect((await d.request('PUT', '/appmesh/app/listed-service', { body: { command: 'true' } })).status).toBe(200);
    const running = (await (await d.request('POST', '/appmesh/app/run?timeout=30', { body: { command: 'sleep 20' } })).json()) as { name: string };
    const done = (await (await d.request('POST', '/appmesh/app/run', { body: { command: 'echo finished' } })).json()) as { name: string };
    await finished(done.name);
    await finished('listed-service');

    const names = await listedNames();
    expect(names).toContain('listed-service');
    expect(names).toContain(running.name);
    expect(names).not.toContain(done.name);
    expect(await listedNames('?include_finished_runs=true')).toContain(done.name);
    expect(await listedNames('?include_finished_runs=false')).not.toContain(done.name);

    // Reachable by its handle until its lifecycle removes it.
    expect((await d.request('GET', `/appmesh/app/${done.name}`)).status).toBe(200);
    const output = await d.request('GET', `/appmesh/app/${done.name}/output`);
    expect(await output.text()).toBe('finished\n');
    expect(output.headers.get('x-exit-code')).toBe('0');
    await d.request('DELETE', `/appmesh/app/${running.name}`);
  });

  test('a bad flag is a 400 with a message', async () => {
    const response = await d.request('GET', '/appmesh/applications?include_finished_runs=maybe');
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/include_finished_runs/);
  });

  test('an agent\'s finished run_command is not among the apps of list_apps or GET /appmesh/applications', async () => {
    const client = await mcpClient(d.url, d.token);
    try {
      const result = await ok<{ status: string; handle: string }>(client, 'run_command', { command: 'echo agent', yield_ms: 5000 });
      expect(result.status).toBe('exited');
      const apps = (await ok<{ apps: { name: string }[] }>(client, 'list_apps')).apps.map((app) => app.name);
      expect(apps).not.toContain(result.handle);
      expect(await listedNames()).not.toContain(result.handle);
      expect(await listedNames('?include_finished_runs=true')).toContain(result.handle);
      expect((await ok<{ name: string }>(client, 'get_app', { app_name: result.handle })).name).toBe(result.handle);
    } finally {
      await client.close();
    }
  });
});
