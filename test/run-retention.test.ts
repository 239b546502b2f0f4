import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';
import { MAX_FINISHED_RUNS_PER_USER } from '../src/service/run-ledger.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
}, 30_000);
afterAll(async () => {
  await d?.stop();
});

describe('finished runs are bounded', () => {
  test(`a user keeps at most ${MAX_FINISHED_RUNS_PER_USER} finished runs: the oldest go first, however long their lifecycle`, async () => {
    const extra = 5;
    const names: string[] = [];
    // The first batch is the `extra` runs expected to go: they all end before any later run.
    for (let done = 0; done < MAX_FINISHED_RUNS_PER_USER + extra; ) {
      const count = done === 0 ? extra : Math.min(15, MAX_FINISHED_RUNS_PER_USER + extra - done);
      done += count;
      const started = await Promise.all(
        Array.from({ length: count }, async () => {
          const answer = await d.request('POST', '/appmesh/app/run?timeout=60&lifecycle=7200', { body: { command: 'true' } });
          expect(answer.status).toBe(200);
          return ((await answer.json()) as { name: string }).name;
        }),
      );
      names.push(...started);
      // In order of their end: each batch ends before the next starts.
      await waitFor(async () => {
        const states = await Promise.all(started.map(async (name) => (await (await d.request('GET', `/appmesh/app/${name}`)).json()) as { pid?: number; return_code?: number }));
        return states.every((state) => state.return_code !== undefined);
      }, 20_000, 'the batch to end');
    }
    const listed = (await (await d.request('GET', '/appmesh/applications?include_finished_runs=true')).json()) as { name: string }[];
    const kept = new Set(listed.map((app) => app.name));
    expect(names.filter((name) => kept.has(name)).length).toBe(MAX_FINISHED_RUNS_PER_USER);
    // The first ones are gone, the latest ones are all there.
    expect(names.slice(0, extra).filter((name) => kept.has(name))).toEqual([]);
    expect(names.slice(-50).filter((name) => !kept.has(name))).toEqual([]);
  }, 60_000);
});
