import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, mcpClient, ok } from './helpers/mcp-client.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// Output as live resources: listed for those who may read it, followed with resources/subscribe.
let d: TestDaemon;
let alice: Client;
let bob: Client;

beforeAll(async () => {
  d = await startTestDaemon();
  for (const name of ['alice', 'bob']) {
    expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: `${name}-Password-1`, group: name, roles: ['view', 'shell', 'manage'] } })).status).toBe(200);
  }
  alice = await mcpClient(d.url, await login(d.url, 'alice', 'alice-Password-1'));
  bob = await mcpClient(d.url, await login(d.url, 'bob', 'bob-Password-1'));
  await ok(alice, 'start_service', { name: 'alice-web', command: 'sleep 600' });
  await ok(bob, 'start_service', { name: 'bob-web', command: 'sleep 600' });
});
afterAll(async () => {
  await alice?.close();
  await bob?.close();
  await d?.stop();
});

describe('output resources', () => {
  test('resources/list holds the output of the caller\'s own apps and not of another user\'s', async () => {
    const aliceUris = (await alice.listResources()).resources.map((resource) => resource.uri);
    expect(aliceUris).toContain('appmesh://apps/alice-web/output');
    expect(aliceUris).not.toContain('appmesh://apps/bob-web/output');
    const bobUris = (await bob.listResources()).resources.map((resource) => resource.uri);
    expect(bobUris).toContain('appmesh://apps/bob-web/output');
    expect(bobUris).not.toContain('appmesh://apps/alice-web/output');
  });

  test('a subscribed output sends coalesced updates while a run prints, and none after unsubscribing', async () => {
    expect(alice.getServerCapabilities()?.resources?.subscribe).toBe(true);
    const run = await ok<{ handle: string; output_resource: string }>(alice, 'run_command', { command: 'for i in $(seq 1 40); do echo line $i; sleep 0.1; done', yield_ms: 0 });
    const updates: string[] = [];
    alice.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => void updates.push(notification.params.uri));
    await alice.subscribeResource({ uri: run.output_resource });
    await waitFor(() => updates.length >= 3, 10_000, 'three updates while the run prints');
    const wait = await ok<{ status: string }>(alice, 'wait_run', { handle: run.handle, timeout_ms: 20_000 });
    expect(wait.status).toBe('exited');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    // About 4 s of printing at 10 lines a second: coalesced to at most two updates a second.
    expect(updates.every((uri) => uri === run.output_resource)).toBe(true);
    expect(updates.length).toBeLessThanOrEqual(12);
    const finished = await call(alice, 'wait_run', { handle: run.handle, timeout_ms: 0 });
    expect(finished.content).toContainEqual(expect.objectContaining({ type: 'resource_link', uri: run.output_resource }));
    const read = await alice.readResource({ uri: run.output_resource });
    expect(JSON.stringify(read.contents)).toContain('line 40');

    await alice.unsubscribeResource({ uri: run.output_resource });
    const second = await ok<{ handle: string; output_resource: string }>(alice, 'run_command', { command: 'echo again', yield_ms: 5000 });
    const before = updates.length;
    await new Promise((resolve) => setTimeout(resolve, 1200));
    expect(updates.length).toBe(before);
    expect(second.handle).not.toBe(run.handle);
  }, 30_000);

  test('another user\'s output cannot be followed, nor a resource that is not output', async () => {
    await expect(bob.subscribeResource({ uri: 'appmesh://apps/alice-web/output' })).rejects.toThrow(/alice-web|denied|permission|not found/i);
    await expect(bob.subscribeResource({ uri: 'appmesh://files/etc/passwd' })).rejects.toThrow(/Only application output/);
    const unknown = await call(bob, 'tail_log', { name: 'no-such-app' });
    expect(unknown.isError).toBe(true);
  });
});
