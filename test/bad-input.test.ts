import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

async function expectClientError(response: Response, status = 400): Promise<string> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await response.json()) as { message: string };
  expect(typeof body.message).toBe('string');
  return body.message;
}

describe('malformed input gets a 4xx JSON error and changes nothing', () => {
  test.each([
    ['malformed JSON', '{"name": "x", "command": '],
    ['a JSON array', '[1,2]'],
    ['JSON null', 'null'],
    ['a number for command', { command: 123 }],
    ['a string status', { command: 'true', status: 'on' }],
    ['an unknown exit action', { command: 'true', behavior: { exit: 'explode' } }],
    ['a non-integer control key', { command: 'true', behavior: { control: { abc: 'restart' } } }],
    ['a bad interval', { command: 'true', start_interval_seconds: 'every minute' }],
    ['a half daily window', { command: 'true', daily_limitation: { daily_start: 10 } }],
    ['a negative memory limit', { command: 'true', resource_limit: { memory_mb: -1 } }],
    ['start after end', { command: 'true', start_time: 2000, end_time: 1000 }],
    ['a name with a slash', { name: 'a/b', command: 'true' }],
    ['no command', { description: 'x' }],
    ['a docker image', { command: 'true', docker_image: 'alpine' }],
    ['env that is not a map', { command: 'true', env: 'A=1' }],
  ])('PUT with %s is 400', async (_label, body) => {
    const message = await expectClientError(await d.request('PUT', '/appmesh/app/victim', { body }));
    expect(message.length).toBeGreaterThan(3);
    expect((await d.request('GET', '/appmesh/app/victim')).status).toBe(404);
  });

  test('a 1 MB name is refused with a 4xx JSON error', async () => {
    const name = 'n'.repeat(1024 * 1024);
    const response = await d.request('PUT', '/appmesh/app/big', { body: { name, command: 'true' } });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(((await response.json()) as { message: string }).message).toBeTruthy();
    const run = await d.request('POST', '/appmesh/app/syncrun', { body: { name, command: 'true' } });
    await expectClientError(run);
  });

  test('a bad %-escape or an over-long name in the path is a 4xx with only a message', async () => {
    for (const path of ['/appmesh/app/%E0%A4%A', `/appmesh/app/${'a'.repeat(5000)}`]) {
      const response = await d.request('GET', path);
      expect(response.status).toBeGreaterThanOrEqual(400);
      expect(response.status).toBeLessThan(500);
      expect(Object.keys((await response.json()) as object)).toEqual(['message']);
    }
  });

  test('a NUL in working_dir is refused', async () => {
    await expectClientError(await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'true', working_dir: '/tmp\u0000x' } }));
  });

  test('a body beyond the limit is 413 with a JSON message', async () => {
    const response = await d.request('PUT', '/appmesh/app/huge', { body: { command: 'true', description: 'x'.repeat(5 * 1024 * 1024) } });
    await expectClientError(response, 413);
  });

  test('an unknown app is 404 "No such application" everywhere', async () => {
    for (const [method, path] of [
      ['GET', '/appmesh/app/ghost'],
      ['GET', '/appmesh/app/ghost/output'],
      ['POST', '/appmesh/app/ghost/enable'],
      ['POST', '/appmesh/app/ghost/disable'],
      ['GET', '/appmesh/app/ghost/health'],
    ]) {
      const response = await d.request(method, path);
      expect(await expectClientError(response, 404)).toBe('No such application');
    }
  });

  test('bad query values are 400, out-of-range ones fall back to defaults', async () => {
    await expectClientError(await d.request('POST', '/appmesh/app/syncrun?timeout=soon', { body: { command: 'true' } }));
    const fallback = await d.request('POST', '/appmesh/app/syncrun?timeout=-3', { body: { command: 'echo ok' } });
    expect(fallback.status).toBe(200);
  });

  test('the daemon keeps serving after all of it', async () => {
    expect((await d.request('GET', '/appmesh/readyz')).status).toBe(200);
    const list = (await (await d.request('GET', '/appmesh/applications')).json()) as unknown[];
    expect(list).toEqual([]);
  });
});

describe('tolerated input', () => {
  test('read-only and unknown fields are ignored; the path name is used when the body has none', async () => {
    const response = await d.request('PUT', '/appmesh/app/tolerant', {
      body: { command: 'sleep 5', pid: 1, starts: 99, health: 0, exec_user: 'root', owner: 'someone', unknown_field: true, start_time: '', retention: 'PT10S', status: 0 },
    });
    expect(response.status).toBe(200);
    const view = (await response.json()) as Record<string, unknown>;
    expect(view).toMatchObject({ name: 'tolerant', owner: 'admin', status: 0, starts: 0, retention: '10' });
    expect(view.unknown_field).toBeUndefined();
    expect(view.start_time).toBeUndefined();
    await d.request('DELETE', '/appmesh/app/tolerant');
  });
});
