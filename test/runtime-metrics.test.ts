// Node's own metrics (heap, GC, event-loop delay) cost an idle daemon wake-ups: they start with
// the first scrape, not when the metric library loads for the daemon's own counters.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DaemonMetrics } from '../src/observability/metrics.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const LOOP_DELAY = 'appmesh_nodejs_nodejs_eventloop_lag_seconds';
const LOOP_DELAY_P99 = 'appmesh_nodejs_nodejs_eventloop_lag_p99_seconds';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

describe('runtime metrics', () => {
  test('a metric set loaded by the daemon\'s own counters runs no loop-delay monitor until a scrape', async () => {
    const metrics = new DaemonMetrics(d.daemon.supervisor, '1.0.0');
    try {
      const set = await metrics.load();
      expect(set.registry.getSingleMetric(LOOP_DELAY)).toBeUndefined();

      const first = await metrics.exposition();
      expect(first).toContain(`# TYPE ${LOOP_DELAY} gauge`);
      expect(first).toContain(`# TYPE ${LOOP_DELAY_P99} gauge`);
      expect(first).toContain('# TYPE appmesh_nodejs_nodejs_gc_duration_seconds histogram');
      // Started once: a second scrape registers nothing twice.
      const second = await metrics.exposition();
      expect(second.split('\n').filter((line) => line === `# TYPE ${LOOP_DELAY} gauge`)).toHaveLength(1);
    } finally {
      metrics.close();
    }
  });

  test('the daemon\'s scrape carries them from the first one on', async () => {
    const response = await d.request('GET', '/appmesh/metrics', { token: null });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain(`# TYPE ${LOOP_DELAY} gauge`);
    expect(text).toContain('# TYPE appmesh_nodejs_process_cpu_user_seconds_total counter');
  });
});
