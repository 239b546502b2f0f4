import { mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { OutputFiles } from '../src/supervisor/output/output-files.js';
import { PipeSource } from '../src/supervisor/output/pipe-source.js';

const scratch = mkdtempSync(join(tmpdir(), 'appmesh-output-open-'));
const pipes = new PipeSource(join(scratch, 'pipes'));
afterAll(async () => {
  await pipes.close();
  rmSync(scratch, { recursive: true, force: true });
});

test('starts of one app asked for at once get a file each: the later one shifts the earlier one into history', async () => {
  const files = new OutputFiles(scratch, 'twice');
  const [first, second] = await Promise.all([files.openForNewRun(1, () => 1024, pipes), files.openForNewRun(1, () => 1024, pipes)]);
  // What each run's process would write into its pipe, copied into that run's file.
  writeSync(first.fd, 'first run\n');
  writeSync(second.fd, 'second run\n');
  await Promise.all([first.copy(), second.copy()]);
  expect(readFileSync(files.path(1), 'utf8')).toBe('first run\n');
  expect(readFileSync(files.path(0), 'utf8')).toBe('second run\n');
});
