import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema, TaskStatusNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, mcpClient } from './helpers/mcp-client.js';
import { login, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// Long runs as MCP tasks: the call answers with a task at once, the run goes on past the
// request, tasks/get, tasks/result, tasks/cancel and tasks/list follow it, for its creator only.
let d: TestDaemon;
let alice: Client;
let aliceToken: string;
let bobToken: string;

const startTask = (client: Client, name: string, args: Record<string, unknown>, ttl = 60_000) =>
  client.request({ method: 'tools/call', params: { name, arguments: args, task: { ttl } } }, CreateTaskResultSchema);

const handleOf = (statusMessage: string | undefined) => /handle (\S+)/.exec(statusMessage ?? '')?.[1];

beforeAll(async () => {
  d = await startTestDaemon();
  for (const name of ['alice', 'bob']) {
    expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: `${name}-Password-1`, group: name, roles: ['view', 'shell'] } })).status).toBe(200);
  }
  aliceToken = await login(d.url, 'alice', 'alice-Password-1');
  bobToken = await login(d.url, 'bob', 'bob-Password-1');
  alice = await mcpClient(d.url, aliceToken);
});
afterAll(async () => {
  await alice?.close();
  await d?.stop();
});

describe('MCP tasks', () => {
  test('the server declares tasks and marks the long tools as task-capable', async () => {
    expect(alice.getServerCapabilities()?.tasks?.requests?.tools?.call).toBeDefined();
    const { tools } = await alice.listTools();
    for (const name of ['run_command', 'run_app_sync', 'wait_run']) expect(tools.find((tool) => tool.name === name)?.execution?.taskSupport, name).toBe('optional');
    expect(tools.find((tool) => tool.name === 'list_apps')?.execution?.taskSupport ?? 'forbidden').toBe('forbidden');
  });

  test('a task-augmented run_command returns a task at once; tasks/get shows it working; tasks/result brings its output and exit code', async () => {
    const began = performance.now();
    const { task } = await startTask(alice, 'run_command', { command: 'sleep 30; echo done', timeout_seconds: 120 });
    const elapsed = performance.now() - began;
    expect(elapsed).toBeLessThan(100);
    expect(task.status).toBe('working');
    const seen = await waitFor(async () => {
      const current = await alice.experimental.tasks.getTask(task.taskId);
      return handleOf(current.statusMessage) ? current : undefined;
    }, 5000, 'the run handle in the task status');
    expect(seen.status).toBe('working');
    const result = await alice.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, { timeout: 60_000 });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ status: 'exited', exit_code: 0 });
    expect(String(result.structuredContent?.output)).toContain('done');
    expect((await alice.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
  }, 60_000);

  test('a call without a task keeps the deadline and the handle', async () => {
    const result = await call(alice, 'run_command', { command: 'sleep 5', yield_ms: 200 });
    expect(result.structuredContent).toMatchObject({ status: 'running' });
    await call(alice, 'kill_run', { handle: result.structuredContent?.handle });
  });

  test('tasks/cancel stops the whole process tree', async () => {
    const { task } = await startTask(alice, 'run_command', { command: 'sleep 300 & sleep 300; wait', timeout_seconds: 600 });
    const handle = await waitFor(async () => handleOf((await alice.experimental.tasks.getTask(task.taskId)).statusMessage), 5000, 'run handle');
    const pid = await waitFor(async () => {
      const app = (await (await d.request('GET', `/appmesh/app/${handle}`, { token: aliceToken })).json()) as { pid?: number };
      return app.pid && app.pid > 0 ? app.pid : undefined;
    }, 5000, 'run pid');
    const children = await waitFor(async () => {
      const { readFile } = await import('node:fs/promises');
      const listed = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
      const ids = listed.trim().split(/\s+/).filter(Boolean).map(Number);
      return ids.length >= 2 ? ids : undefined;
    }, 5000, 'both sleeps');
    const cancelled = await alice.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    await waitFor(async () => !(await processAlive(pid)) && (await Promise.all(children.map(processAlive))).every((alive) => !alive), 10_000, 'no process left');
    expect((await alice.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
  }, 30_000);

  test('a task survives a reconnect, belongs to its creator only, and is listed for them', async () => {
    const { task } = await startTask(alice, 'run_command', { command: 'sleep 1; echo later', timeout_seconds: 60 });
    const again = await mcpClient(d.url, aliceToken);
    const bob = await mcpClient(d.url, bobToken);
    try {
      expect((await again.experimental.tasks.listTasks()).tasks.map((listed) => listed.taskId)).toContain(task.taskId);
      expect((await bob.experimental.tasks.listTasks()).tasks.map((listed) => listed.taskId)).not.toContain(task.taskId);
      await expect(bob.experimental.tasks.getTask(task.taskId)).rejects.toThrow(/not found/i);
      await expect(bob.experimental.tasks.cancelTask(task.taskId)).rejects.toThrow(/not found/i);
      await expect(bob.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema)).rejects.toThrow(/not found/i);
      const result = await again.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema, { timeout: 30_000 });
      expect(String(result.structuredContent?.output)).toContain('later');
    } finally {
      await again.close();
      await bob.close();
    }
  }, 30_000);

  test('run_app_sync and wait_run run as tasks too', async () => {
    const statuses: { taskId: string; status: string }[] = [];
    alice.setNotificationHandler(TaskStatusNotificationSchema, (notification) => void statuses.push(notification.params));
    const sync = await startTask(alice, 'run_app_sync', { command: 'echo synced' });
    const syncResult = await alice.experimental.tasks.getTaskResult(sync.task.taskId, CallToolResultSchema, { timeout: 30_000 });
    expect(syncResult.structuredContent).toMatchObject({ exit_code: 0 });
    expect(String(syncResult.structuredContent?.output)).toContain('synced');
    await waitFor(() => statuses.some((status) => status.taskId === sync.task.taskId && status.status === 'completed'), 5000, 'notifications/tasks/status');

    const running = await call(alice, 'run_command', { command: 'sleep 2; echo waited', yield_ms: 0 });
    const wait = await startTask(alice, 'wait_run', { handle: running.structuredContent?.handle });
    const waitResult = await alice.experimental.tasks.getTaskResult(wait.task.taskId, CallToolResultSchema, { timeout: 30_000 });
    expect(waitResult.structuredContent).toMatchObject({ status: 'exited', exit_code: 0 });
  }, 30_000);

  test('a task of a tool the caller may not use, or with bad arguments, is refused with a protocol error naming why', async () => {
    expect((await d.request('PUT', '/appmesh/user/viewer', { body: { key: 'Viewer-Password-1', group: 'v', roles: ['view'] } })).status).toBe(200);
    const viewer = await mcpClient(d.url, await login(d.url, 'viewer', 'Viewer-Password-1'));
    try {
      await expect(viewer.request({ method: 'tools/call', params: { name: 'run_command', arguments: { command: 'id' }, task: { ttl: 1000 } } }, CreateTaskResultSchema)).rejects.toThrow(/permission.*app-run-async/);
      await expect(alice.request({ method: 'tools/call', params: { name: 'run_command', arguments: { command: '' }, task: { ttl: 1000 } } }, CreateTaskResultSchema)).rejects.toThrow(/Invalid arguments for tool run_command/);
    } finally {
      await viewer.close();
    }
  });
});
