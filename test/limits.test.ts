import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getApp, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ env: { APPMESH_Limits_MaxOutputBytesPerRun: '100000', APPMESH_Limits_KillGraceSeconds: '1' } });
});
afterAll(async () => {
  await d.stop();
});

describe('limits', () => {
  test('a run writing past Limits.MaxOutputBytesPerRun has its output file cut back', async () => {
    expect((await d.request('PUT', '/appmesh/app/chatter', { body: { command: "head -c 400000 /dev/zero | tr '\\\\0' a; exec sleep 300", shell: true } })).status).toBe(200);
    await waitFor(async () => ((await getApp(d, 'chatter')).pid ? true : undefined), 10_000, 'the app to run');
    // The guard runs each tick: the file never stays above the limit for long.
    await waitFor(async () => {
      const response = await d.request('GET', '/appmesh/app/chatter/output');
      return (await response.arrayBuffer()).byteLength <= 100_000 || undefined;
    }, 10_000, 'the output to be cut back');
    await d.request('DELETE', '/appmesh/app/chatter');
  });

  test('a process that ignores SIGTERM is killed after Limits.KillGraceSeconds', async () => {
    expect((await d.request('PUT', '/appmesh/app/stubborn', { body: { command: "trap '' TERM; echo $$; while true; do sleep 0.1; done", shell: true } })).status).toBe(200);
    const pid = await waitFor(async () => (await getApp(d, 'stubborn')).pid as number | undefined, 10_000, 'the app to run');
    await waitFor(async () => (await (await d.request('GET', '/appmesh/app/stubborn/output')).text()).trim() !== '' || undefined, 10_000, 'the trap to be set');
    const started = Date.now();
    expect((await d.request('POST', '/appmesh/app/stubborn/disable')).status).toBe(200);
    expect(await processAlive(pid)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect((await getApp(d, 'stubborn')).return_code).toBe(-9);
    await d.request('DELETE', '/appmesh/app/stubborn');
  });
});

describe('workspaces', () => {
  test('a workspace unused for Limits.WorkspaceIdleSeconds is removed with its files', async () => {
    const { existsSync } = await import('node:fs');
    const { writeFile } = await import('node:fs/promises');
    const idle = await startTestDaemon({ env: { APPMESH_Limits_WorkspaceIdleSeconds: '1' } });
    try {
      const principal = await idle.daemon.core.auth.authenticate(idle.token);
      const workspace = await idle.daemon.core.workspaces.open(principal, 'scratch');
      await writeFile(`${workspace.path}/notes.txt`, 'temporary');
      await idle.daemon.core.workspaces.removeIdle();
      expect(existsSync(workspace.path)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 2100));
      await idle.daemon.core.workspaces.removeIdle();
      expect(existsSync(workspace.path)).toBe(false);
      expect(idle.daemon.core.workspaces.list(principal)).toEqual([]);
    } finally {
      await idle.stop();
    }
  });
});
