import { afterEach, describe, expect, test } from 'vitest';
import { startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// The tick as slow as the configuration allows: what these tests see must not wait for it.
const SLOW_TICK = { APPMESH_BaseConfig_ScheduleIntervalSeconds: '100' };

let d: TestDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

async function app(daemon: TestDaemon, name: string): Promise<{ pid?: number; health: number }> {
  return (await (await daemon.request('GET', `/appmesh/app/${name}`)).json()) as { pid?: number; health: number };
}

describe('each app wakes on its own timer, not on a scan of all apps', () => {
  test('a run is stopped when its end_time passes, without waiting for a tick', async () => {
    d = await startTestDaemon({ env: SLOW_TICK });
    const endTime = Math.floor(Date.now() / 1000) + 3;
    expect((await d.request('PUT', '/appmesh/app/ending', { body: { command: 'sleep 1000', end_time: endTime } })).status).toBe(200);
    await waitFor(async () => (await app(d!, 'ending')).pid, 10_000, 'the run');
    await waitFor(async () => !(await app(d!, 'ending')).pid, 10_000, 'the stop at end_time');
  }, 30_000);

  test('STDOUT events of a run that was started before anybody subscribed begin when the subscription is made', async () => {
    d = await startTestDaemon({ env: SLOW_TICK });
    expect((await d.request('PUT', '/appmesh/app/talker', { body: { command: 'sh -c "while true; do echo talk; sleep 0.2; done"' } })).status).toBe(200);
    await waitFor(async () => (await app(d!, 'talker')).pid, 10_000, 'the run');
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 8_000);
    const response = await fetch(`${d.url}/appmesh/app/talker/events?events=STDOUT`, { headers: { Accept: 'text/event-stream', Authorization: `Bearer ${d.token}` }, signal: controller.signal });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    let text = '';
    try {
      while (!text.includes('talk')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    } catch {
      // Aborted: nothing came in time.
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
    expect(text).toContain('talk');
  }, 30_000);

  test('the tick visits only the apps with a health command; health without one follows starts and exits', async () => {
    d = await startTestDaemon();
    for (let index = 0; index < 30; index++) expect((await d.request('PUT', `/appmesh/app/quiet-${index}`, { body: { command: 'sleep 1000', status: index % 2 } })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/app/checked', { body: { command: 'sleep 1000', health_check_cmd: 'false' } })).status).toBe(200);
    const stats = d.daemon.supervisor.tickStats;
    const before = { ...stats };
    await waitFor(() => stats.ticks >= before.ticks + 2, 10_000, 'two ticks');
    expect(stats.visits - before.visits).toBe(stats.ticks - before.ticks);
    await waitFor(async () => (await app(d!, 'checked')).health === 1, 10_000, 'the health command decides');
    const running = await app(d, 'quiet-1');
    expect(running.pid).toBeGreaterThan(0);
    expect(running.health).toBe(0);
    expect((await d.request('POST', '/appmesh/app/quiet-1/disable')).status).toBe(200);
    expect((await app(d, 'quiet-1')).health).toBe(1);
  }, 60_000);

  test('without cgroups the tick polls only apps with a memory limit, and stops one over it', async () => {
    d = await startTestDaemon({ env: { APPMESH_CGROUPS: 'off' } });
    for (let index = 0; index < 10; index++) expect((await d.request('PUT', `/appmesh/app/plain-${index}`, { body: { command: 'sleep 1000' } })).status).toBe(200);
    expect(
      (
        await d.request('PUT', '/appmesh/app/hog', {
          body: {
            command: 'python3 -c "import time; x = bytearray(80 * 1024 * 1024); x[::4096] = b\'1\' * len(x[::4096]); time.sleep(300)"',
            resource_limit: { memory_mb: 30 },
            behavior: { exit: 'standby' },
          },
        })
      ).status,
    ).toBe(200);
    const stats = d.daemon.supervisor.tickStats;
    const before = { ...stats };
    const stopped = await waitFor(async () => {
      const view = (await (await d!.request('GET', '/appmesh/app/hog')).json()) as { return_code?: number; last_error?: string };
      return view.return_code !== undefined ? view : undefined;
    }, 15_000, 'the memory limit to stop the app');
    expect(String(stopped.last_error)).toMatch(/exceeded resource_limit.memory_mb 30/);
    expect(stats.ticks).toBeGreaterThan(before.ticks);
    expect(stats.visits - before.visits).toBe(stats.ticks - before.ticks);
  }, 60_000);
});
