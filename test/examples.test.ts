import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// Each example runs against a daemon started here, so none rots. examples/mqtt-device.mjs runs in
// test/mqtt.test.ts, beside the broker it needs.
const examples = join(import.meta.dirname, '..', 'examples');
let d: TestDaemon;
let scratch: string;

function runExample(file: string, env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(examples, file), ...args], { env: { ...process.env, ...env }, timeout: 45_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  d = await startTestDaemon();
  scratch = await mkdtemp(join(tmpdir(), 'appmesh-examples-'));
}, 60_000);

afterAll(async () => {
  await d?.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe('examples', () => {
  test('rest-client.mjs: the official appmesh npm client runs commands and registers a service', async () => {
    const result = await runExample('rest-client.mjs', { APPMESH_URL: d.url, APPMESH_PASSWORD: ADMIN_PASSWORD });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/uname exited with 0/);
    expect(result.stdout).toContain('step 3');
    expect(result.stdout).toMatch(/job exited with 0/);
    expect(result.stdout).toContain('heartbeat');
    expect((await d.request('GET', '/appmesh/app/heartbeat')).status).toBe(404);
  });

  test('mcp-agent.mjs: a command with a deadline, a handle to come back to, an interactive program', async () => {
    const result = await runExample('mcp-agent.mjs', { APPMESH_URL: d.url, APPMESH_TOKEN: d.token });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/running, handle \S+/);
    expect(result.stdout).toContain('step 5');
    expect(result.stdout).toContain('42');
  });

  test('task-worker.mjs: registered as an app, it answers the tasks sent to it', async () => {
    const body = { command: `${process.execPath} ${join(examples, 'task-worker.mjs')}`, env: { APPMESH_URL: d.url }, behavior: { exit: 'restart' } };
    expect((await d.request('PUT', '/appmesh/app/upper', { body })).status).toBe(200);
    try {
      const answer = await waitFor(async () => {
        const response = await d.request('POST', '/appmesh/app/upper/task?timeout=10', { body: 'hello worker', headers: { 'Content-Type': 'text/plain' } });
        return response.status === 200 ? response.text() : undefined;
      }, 30_000, 'the worker to answer');
      expect(answer).toContain('HELLO WORKER');
    } finally {
      await d.request('DELETE', '/appmesh/app/upper');
    }
  });

  test('remote-build.mjs: the plugin script syncs, builds and tests remotely and pulls the artifact back', async () => {
    const project = join(scratch, 'remote-build');
    await cp(join(examples, 'remote-build'), project, { recursive: true });
    const env = { APPMESH_URL: d.url, APPMESH_USER: 'admin', APPMESH_PASSWORD: ADMIN_PASSWORD, APPMESH_WORKSPACE: join(scratch, 'node-workspace'), XDG_CACHE_HOME: join(scratch, 'cache') };
    const result = await runExample('remote-build.mjs', env, [project]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('tests passed');
    expect(result.stdout).toContain('[exit] 0');
    expect(result.stdout).toContain('0 file(s) sent, 0 deleted');
    expect(await readFile(join(project, 'out', 'greet'), 'utf8')).toBe("#!/bin/sh\nprintf 'Hello, %s!\\n' \"${1:-there}\"\n");
    expect((await stat(join(project, 'out', 'greet'))).mode & 0o100).toBe(0o100);
    // cleanup --workspace removed the remote copy.
    await expect(stat(join(scratch, 'node-workspace'))).rejects.toThrow();
  });
});
