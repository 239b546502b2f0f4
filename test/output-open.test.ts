import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { waitFor } from './helpers/test-daemon.js';
import { OutputFiles, releaseSpareFiles } from '../src/supervisor/output/output-files.js';
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

test('many starts in a row: each run gets its own file with its own output, and closing leaves no file of the folder\'s own behind', async () => {
  const dir = join(scratch, 'many');
  mkdirSync(dir, { mode: 0o700 });
  // Left by a daemon killed before it could remove them: nobody holds them.
  writeFileSync(join(dir, '.spare-0123456789ab-1'), '');
  const apps = Array.from({ length: 40 }, (_, index) => new OutputFiles(dir, `app-${index}`));
  for (const [index, files] of apps.entries()) {
    const output = await files.openForNewRun(0, () => 1024, pipes);
    writeSync(output.fd, `run ${index}\n`);
    await output.copy();
  }
  for (const [index, files] of apps.entries()) expect(readFileSync(files.path(0), 'utf8')).toBe(`run ${index}\n`);
  await waitFor(() => !readdirSync(dir).includes('.spare-0123456789ab-1'), 5000, 'the abandoned spare file removed');
  releaseSpareFiles(dir);
  for (const files of apps) files.removeAll();
  await waitFor(() => readdirSync(dir).length === 0, 5000, 'the folder empty');
});
