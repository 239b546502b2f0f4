import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { StdoutPump, type StdoutChunk } from '../src/supervisor/output/stdout-pump.js';
import { waitFor } from './helpers/test-daemon.js';

// STDOUT events are read from the run's output file: the end of a run must arrive whole, however
// much is still unread when it ends.

const dir = mkdtempSync(join(tmpdir(), 'appmesh-pump-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function collect(file: string): { pump: StdoutPump; chunks: StdoutChunk[] } {
  const chunks: StdoutChunk[] = [];
  return { pump: new StdoutPump(file, () => true, (chunk) => chunks.push(chunk)), chunks };
}

test('a run that ends with 5 MiB unread delivers all of it, in order, the last chunk marked finished', async () => {
  const file = join(dir, 'burst.out');
  writeFileSync(file, '');
  const { pump, chunks } = collect(file);
  pump.start();
  appendFileSync(file, Buffer.alloc(5 * 1024 * 1024, 'x'));
  pump.finish();
  await waitFor(() => chunks.at(-1)?.finished, 5000, 'the finished chunk');
  expect(chunks.reduce((sum, chunk) => sum + chunk.output.length, 0)).toBe(5 * 1024 * 1024);
  let position = 0;
  for (const chunk of chunks) {
    expect(chunk.position).toBe(position);
    position += chunk.output.length;
  }
  expect(chunks.filter((chunk) => chunk.finished)).toHaveLength(1);
});

