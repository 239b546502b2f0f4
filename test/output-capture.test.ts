import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { newHome, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// A run's output is copied into its file by a worker thread: the daemon's event loop stays free
// while a run writes hundreds of MB, and the file never passes Limits.MaxOutputBytesPerRun.

const MiB = 1024 * 1024;
const CAP = 8 * MiB;
const BIG = 200 * 1000 * 1000;

let d: TestDaemon;
let outputDir: string;
beforeAll(async () => {
  d = await startTestDaemon({ env: { APPMESH_Limits_MaxOutputBytesPerRun: String(CAP) } });
  outputDir = join(d.home, 'work', 'stdout');
});
afterAll(async () => {
  await d?.stop();
});

const sizeOf = (file: string) => {
  try {
    return statSync(file).size;
  } catch {
    return undefined;
  }
};

describe('output capture', () => {
  test('while a run writes 200 MB, readyz keeps answering and the output file never passes the cap', async () => {
    const file = join(outputDir, 'appmesh.bigcapture.out');
    let finished = false;
    const run = d.request('POST', '/appmesh/app/syncrun?timeout=120', { body: { name: 'bigcapture', command: `head -c ${BIG} /dev/zero` } }).finally(() => (finished = true));
    let answers = 0;
    let highest = 0;
    const sizes = new Set<number>();
    while (!finished) {
      const ready = await d.request('GET', '/appmesh/readyz', { token: null });
      expect(ready.status).toBe(200);
      const size = sizeOf(file);
      // Counted only while the run is being written: the file exists and the run has not ended.
      if (size !== undefined && !finished) {
        answers++;
        sizes.add(size);
        highest = Math.max(highest, size);
      }
    }
    const response = await run;
    expect(response.status).toBe(200);
    expect(response.headers.get('x-exit-code')).toBe('0');
    // The reply carries the newest output, at most the cap; the file started over at the cap.
    const text = await response.text();
    expect(text.length).toBeGreaterThan(0);
    expect(text.length).toBeLessThanOrEqual(CAP);
    expect(Number(response.headers.get('x-output-position'))).toBe(text.length);
    expect(answers).toBeGreaterThanOrEqual(3);
    // The loop answered between writes: it saw the file at several sizes.
    expect(sizes.size).toBeGreaterThanOrEqual(2);
    expect(highest).toBeLessThanOrEqual(CAP);
  });

  test('the event loop is mostly idle while a run writes 200 MB (the copy runs on another thread)', async () => {
    // Warm: the copier thread starts with the first run that writes more than a MiB; its start
    // is not what this measures.
    expect((await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'head -c 3000000 /dev/zero' } })).status).toBe(200);
    const before = performance.eventLoopUtilization();
    const response = await d.request('POST', '/appmesh/app/syncrun?timeout=120', { body: { command: `head -c ${BIG} /dev/zero` } });
    const busy = performance.eventLoopUtilization(before);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-exit-code')).toBe('0');
    await response.arrayBuffer();
    // Copying on the event loop kept it busy well over half the time; the worker leaves it idle.
    expect(busy.utilization).toBeLessThan(0.25);
  });

  test('output is readable while it is written, and complete at the exit', async () => {
    const command = 'for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i; sleep 0.2; done';
    const started = await d.request('POST', '/appmesh/app/run', { body: { command, shell: true } });
    expect(started.status).toBe(200);
    const { name, process_uuid: uuid } = (await started.json()) as { name: string; process_uuid: string };
    const outputOf = (position = 0) => d.request('GET', `/appmesh/app/${name}/output?process_uuid=${uuid}&stdout_position=${position}`);
    const early = await waitFor(async () => {
      const res = await outputOf();
      const text = await res.text();
      return res.headers.get('x-exit-code') === null && text.includes('line2') ? text : undefined;
    }, 20_000, 'output while the run writes');
    expect(early.startsWith('line1\nline2\n')).toBe(true);
    await waitFor(async () => {
      const res = await outputOf(early.length);
      await res.arrayBuffer();
      return res.headers.get('x-exit-code') === '0' || undefined;
    }, 20_000, 'the run to end');
    expect(await (await outputOf()).text()).toBe(Array.from({ length: 10 }, (_, i) => `line${i + 1}\n`).join(''));
  });

  test('an output handed from the event loop to the copier mid-run is whole and in order', async () => {
    // seq writes many small chunks: the hand-over happens while the writer is going.
    const started = await d.request('POST', '/appmesh/app/run', { body: { command: 'seq 1 500000' } });
    expect(started.status).toBe(200);
    const { name, process_uuid: uuid } = (await started.json()) as { name: string; process_uuid: string };
    const expected = Array.from({ length: 500000 }, (_, i) => `${i + 1}\n`).join('');
    await waitFor(async () => {
      const res = await d.request('GET', `/appmesh/app/${name}/output?process_uuid=${uuid}&stdout_position=${expected.length}`);
      await res.arrayBuffer();
      return res.status === 200 && res.headers.get('x-exit-code') === '0' ? true : undefined;
    }, 30_000, 'the run to end');
    expect(readFileSync(join(outputDir, `appmesh.${name}.out`), 'utf8') === expected).toBe(true);
  });

  test('a large output whose leftover keeps the pipe open still ends, whole, when the run ends', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'head -c 2000000 /dev/zero; sleep 4402 & echo last', shell: true } });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.length).toBe(2_000_005);
    expect(text.endsWith('\0last\n')).toBe(true);
  });

  test('removing an app removes its output files, without leaving any behind', async () => {
    expect((await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'removedoutput', command: 'head -c 5000000 /dev/zero' } })).status).toBe(200);
    await waitFor(() => readdirSync(outputDir).every((name) => !name.includes('removedoutput') && !name.startsWith('.removed-')) || undefined, 10_000, 'the output files to go');
  });

  test('output files a daemon renamed for removal but did not live to remove are removed by the next one', async () => {
    const home = await newHome();
    const leftover = join(home, 'work', 'stdout', '.removed-0123456789abcdef');
    mkdirSync(dirname(leftover), { recursive: true });
    writeFileSync(leftover, 'x'.repeat(4096));
    const next = await startTestDaemon({ home });
    try {
      expect((await next.request('POST', '/appmesh/app/syncrun', { body: { command: 'true' } })).status).toBe(200);
      await waitFor(() => !existsSync(leftover) || undefined, 10_000, 'the leftover to go');
    } finally {
      await next.stop();
    }
  });
});
