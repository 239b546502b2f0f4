// Pipes for the next runs are opened at both ends after a start, off its way to the exec, and let
// go when the daemon stops. Real FIFOs, no daemon.
import { closeSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { PipeSource } from '../src/supervisor/output/pipe-source.js';
import { waitFor } from './helpers/test-daemon.js';

const dir = mkdtempSync(join(tmpdir(), 'appmesh-pipes-ahead-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Descriptors of this process on pipes of `source` (their names are removed once opened). */
function openPipeEnds(source: PipeSource): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${source.dir}/pipe-`)) count++;
    } catch {
      // Closed meanwhile.
    }
  }
  return count;
}

test('after a start, the next pipes wait opened; a start takes one of them; the close lets them go', async () => {
  const source = new PipeSource(join(dir, 'pipes'));
  const taken = [];
  try {
    // The first start makes its own FIFO and has the batch made; the starts after it find theirs opened.
    taken.push(source.open());
    await waitFor(async () => {
      taken.push(source.open());
      await new Promise((resolve) => setImmediate(resolve));
      return openPipeEnds(source) === 2 * taken.length + 2 * 4;
    }, 10_000, 'pipes opened ahead');
    const before = openPipeEnds(source);
    taken.push(source.open());
    // Taken from those opened ahead: no new descriptor until the next one is opened after this turn.
    expect(openPipeEnds(source)).toBe(before);
    await new Promise((resolve) => setImmediate(resolve));
    expect(openPipeEnds(source)).toBe(before + 2);
    for (const pipe of taken) {
      closeSync(pipe.readFd);
      closeSync(pipe.writeFd);
    }
    expect(openPipeEnds(source)).toBe(2 * 4);
  } finally {
    await source.close();
  }
  expect(openPipeEnds(source)).toBe(0);
});
