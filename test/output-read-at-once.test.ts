// A run's output copy reads what the pipe already holds at once; only a pipe whose writer is still
// there gets a reader on the event loop. Real FIFOs and files, no daemon.
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { CappedOutputFile } from '../src/supervisor/output/capped-output-file.js';
import { PipeSource } from '../src/supervisor/output/pipe-source.js';

const dir = mkdtempSync(join(tmpdir(), 'appmesh-read-at-once-'));
const pipes = new PipeSource(join(dir, 'pipes'));
let files = 0;

afterAll(async () => {
  await pipes.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A pipe, a second write end as the run's process holds it, and an output file. */
function setUp(maxBytes = 1024 * 1024) {
  const pipe = pipes.open();
  // Non-blocking: a full pipe answers EAGAIN instead of holding the test.
  const writer = openSync(`/proc/self/fd/${pipe.writeFd}`, constants.O_WRONLY | constants.O_NONBLOCK);
  const path = join(dir, `out-${files++}`);
  const output = new CappedOutputFile(openSync(path, 'w', 0o600), pipe, () => maxBytes);
  return { writer, path, output };
}

const pipeReaders = () => process.getActiveResourcesInfo().filter((name) => name === 'PipeWrap').length;

test('a run that ended before the copy: its output is read at once, with no reader made', async () => {
  const { writer, path, output } = setUp();
  writeSync(writer, 'hello\n');
  closeSync(writer);
  const before = pipeReaders();
  const copied = output.copy();
  expect(pipeReaders()).toBe(before);
  await copied;
  expect(readFileSync(path, 'utf8')).toBe('hello\n');
});

test('a writer still there: what waits is read at once, the rest through the reader, in order', async () => {
  const { writer, path, output } = setUp();
  writeSync(writer, 'first ');
  const before = pipeReaders();
  const copied = output.copy();
  expect(pipeReaders()).toBe(before + 1);
  await new Promise((resolve) => setTimeout(resolve, 20));
  writeSync(writer, 'second\n');
  closeSync(writer);
  await copied;
  expect(readFileSync(path, 'utf8')).toBe('first second\n');
});

test('a writer still there at the start and gone at the exit: read again at the exit, with no reader made', async () => {
  const { writer, path, output } = setUp();
  writeSync(writer, 'started ');
  let exited = () => {};
  const leaderExited = new Promise<void>((resolve) => (exited = resolve));
  const before = pipeReaders();
  const copied = output.copy(leaderExited);
  writeSync(writer, 'and done\n');
  closeSync(writer);
  exited();
  await copied;
  expect(pipeReaders()).toBe(before);
  expect(readFileSync(path, 'utf8')).toBe('started and done\n');
});

test('a process that goes on gets a reader a moment after its start, and its later output arrives', async () => {
  const { writer, path, output } = setUp();
  // Readers of the tests before close in the background.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const before = pipeReaders();
  const copied = output.copy(new Promise(() => undefined));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(pipeReaders()).toBe(before + 1);
  writeSync(writer, 'later\n');
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(readFileSync(path, 'utf8')).toBe('later\n');
  closeSync(writer);
  await copied;
});

test('more than is read at once: the reader takes the rest, in order', async () => {
  const { writer, path, output } = setUp();
  const total = 320 * 1024;
  const data = Buffer.alloc(total);
  for (let offset = 0; offset < total; offset += 1024) data.fill(97 + ((offset / 1024) % 26), offset, offset + 1024);
  let sent = 0;
  const writeSome = () => {
    try {
      while (sent < total) sent += writeSync(writer, data, sent, Math.min(16 * 1024, total - sent));
    } catch {
      // Full (EAGAIN): more once the reader took some.
    }
  };
  writeSome();
  const copied = output.copy();
  while (sent < total) {
    await new Promise((resolve) => setTimeout(resolve, 1));
    writeSome();
  }
  closeSync(writer);
  await copied;
  expect(readFileSync(path).equals(data)).toBe(true);
});

test('the cap holds for output read at once: the newest bytes are kept', async () => {
  const { writer, path, output } = setUp(1000);
  writeSync(writer, `${'x'.repeat(4000)}${'y'.repeat(1000)}`);
  closeSync(writer);
  await output.copy();
  expect(readFileSync(path, 'utf8')).toBe('y'.repeat(1000));
});
