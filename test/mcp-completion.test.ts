import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mcpClient, ok } from './helpers/mcp-client.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// Completion, prompts and logging: values complete from what the caller may see, and no more.
let d: TestDaemon;
let alice: Client;
let bob: Client;
let viewer: Client;

beforeAll(async () => {
  d = await startTestDaemon();
  for (const name of ['alice', 'bob']) {
    expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: `${name}-Password-1`, group: name, roles: ['view', 'shell', 'manage'] } })).status).toBe(200);
  }
  expect((await d.request('PUT', '/appmesh/user/viewer', { body: { key: 'Viewer-Password-1', group: 'v', roles: ['view'] } })).status).toBe(200);
  alice = await mcpClient(d.url, await login(d.url, 'alice', 'alice-Password-1'));
  bob = await mcpClient(d.url, await login(d.url, 'bob', 'bob-Password-1'));
  viewer = await mcpClient(d.url, await login(d.url, 'viewer', 'Viewer-Password-1'));
  await ok(alice, 'start_service', { name: 'web-alice', command: 'echo alice is up; echo "fatal: port taken" >&2; sleep 600' });
  await ok(bob, 'start_service', { name: 'web-bob', command: 'sleep 600' });
  await ok(alice, 'workspace_open', { name: 'build-a' });
});
afterAll(async () => {
  for (const client of [alice, bob, viewer]) await client?.close();
  await d?.stop();
});

const completeTemplate = (client: Client, value: string) =>
  client.complete({ ref: { type: 'ref/resource', uri: 'appmesh://apps/{name}/output' }, argument: { name: 'name', value } });

describe('completion/complete', () => {
  test('app names in the output resource template: the caller\'s own, not another user\'s', async () => {
    const mine = (await completeTemplate(alice, 'web-')).completion.values;
    expect(mine).toContain('web-alice');
    expect(mine).not.toContain('web-bob');
    expect((await completeTemplate(bob, 'web-')).completion.values).toEqual(['web-bob']);
    expect((await completeTemplate(alice, 'zzz')).completion.values).toEqual([]);
  });

  test('paths in the file resource template, through the file service; nothing without file-download', async () => {
    const { workspaces } = await ok<{ workspaces: { name: string; path: string }[] }>(alice, 'workspace_list');
    const folder = workspaces.find((workspace) => workspace.name === 'build-a')!.path.replace(/^\/+/, '');
    await ok(alice, 'run_command', { command: 'touch notes.txt && mkdir -p nested', workspace: 'build-a', yield_ms: 5000 });
    const complete = (client: Client, value: string) => client.complete({ ref: { type: 'ref/resource', uri: 'appmesh://files/{+path}' }, argument: { name: 'path', value } });
    expect((await complete(alice, `${folder}/no`)).completion.values).toEqual([`${folder}/notes.txt`]);
    expect((await complete(alice, `${folder}/`)).completion.values).toEqual([`${folder}/nested/`, `${folder}/notes.txt`]);
    expect((await complete(viewer, `${folder}/`)).completion.values).toEqual([]);
  });

  test('prompt arguments: app names and workspace names of the caller', async () => {
    const apps = await alice.complete({ ref: { type: 'ref/prompt', name: 'diagnose_service' }, argument: { name: 'name', value: 'web' } });
    expect(apps.completion.values).toContain('web-alice');
    expect(apps.completion.values).not.toContain('web-bob');
    const workspaces = await alice.complete({ ref: { type: 'ref/prompt', name: 'run_build' }, argument: { name: 'workspace', value: 'bui' } });
    expect(workspaces.completion.values).toEqual(['build-a']);
    const none = await bob.complete({ ref: { type: 'ref/prompt', name: 'run_build' }, argument: { name: 'workspace', value: 'bui' } });
    expect(none.completion.values).toEqual([]);
  });
});

describe('prompts', () => {
  test('each caller is offered the prompts its permissions allow', async () => {
    const names = (await alice.listPrompts()).prompts.map((prompt) => prompt.name);
    expect(names).toEqual(expect.arrayContaining(['diagnose_service', 'run_build', 'deploy_service']));
    const viewerNames = (await viewer.listPrompts()).prompts.map((prompt) => prompt.name);
    expect(viewerNames).toContain('diagnose_service');
    expect(viewerNames).not.toContain('run_build');
    expect(viewerNames).not.toContain('deploy_service');
  });

  test('diagnose_service brings the status and the tail of the output; another user\'s app is refused', async () => {
    const prompt = await alice.getPrompt({ name: 'diagnose_service', arguments: { name: 'web-alice' } });
    const text = prompt.messages.map((message) => (message.content.type === 'text' ? message.content.text : '')).join('\n');
    expect(text).toContain('"running": true');
    expect(text).toContain('fatal: port taken');
    expect(text).toContain('search_output');
    await expect(bob.getPrompt({ name: 'diagnose_service', arguments: { name: 'web-alice' } })).rejects.toThrow(/web-alice|denied|permission/i);
  });

  test('run_build names the command and the workspace', async () => {
    const prompt = await alice.getPrompt({ name: 'run_build', arguments: { command: 'make test', workspace: 'build-a' } });
    const text = JSON.stringify(prompt.messages);
    expect(text).toContain('make test');
    expect(text).toContain('build-a');
  });
});

describe('logging/setLevel', () => {
  test('is accepted for every level the protocol names', async () => {
    expect(alice.getServerCapabilities()?.logging).toBeDefined();
    for (const level of ['debug', 'info', 'warning', 'error'] as const) await expect(alice.setLoggingLevel(level)).resolves.toBeDefined();
  });

  test('after setLevel the session is told of its own runs exiting, and not of another user\'s', async () => {
    const messages: { level: string; data: { message?: string; app?: string } }[] = [];
    alice.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => void messages.push(notification.params as never));
    await alice.setLoggingLevel('warning');
    const mine = await ok<{ handle: string }>(alice, 'run_command', { command: 'exit 3', yield_ms: 5000 });
    const theirs = await ok<{ handle: string }>(bob, 'run_command', { command: 'exit 4', yield_ms: 5000 });
    await ok(alice, 'run_command', { command: 'true', yield_ms: 5000 });
    const exit = await waitFor(() => messages.find((message) => message.data.app === mine.handle), 5000, 'the exit of the run');
    expect(exit.level).toBe('warning');
    expect(exit.data.message).toContain('exited with code 3');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(messages.some((message) => message.data.app === theirs.handle)).toBe(false);
    // Below the level: a start and a clean exit are info.
    expect(messages.every((message) => message.level !== 'info')).toBe(true);
  });
});
