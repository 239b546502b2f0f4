import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/** A run as the daemon itself: a program missing from the command's PATH is a start error, every time it is missing. */
let d: TestDaemon;
const bin = mkdtempSync(join(tmpdir(), 'appmesh-lookup-'));
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
  rmSync(bin, { recursive: true, force: true });
});

const run = (command: string) => d.request('POST', '/appmesh/app/syncrun', { body: { command, env: { PATH: `${bin}:/usr/bin:/bin` } } });

test('a program found at one start and removed before the next is not found at the next', async () => {
  const tool = join(bin, 'appmesh-lookup-tool');
  writeFileSync(tool, '#!/bin/sh\necho found\n');
  chmodSync(tool, 0o755);
  const first = await run('appmesh-lookup-tool');
  expect(first.status).toBe(200);
  expect(await first.text()).toBe('found\n');
  rmSync(tool);
  const second = await run('appmesh-lookup-tool');
  expect(second.status).toBe(400);
  expect(((await second.json()) as { message: string }).message).toContain('not found in PATH');
  // And found again once it is back.
  writeFileSync(tool, '#!/bin/sh\necho back\n');
  chmodSync(tool, 0o755);
  expect(await (await run('appmesh-lookup-tool')).text()).toBe('back\n');
});

test('a program that is not executable any more is not found', async () => {
  const tool = join(bin, 'appmesh-lookup-mode');
  writeFileSync(tool, '#!/bin/sh\necho ok\n');
  chmodSync(tool, 0o755);
  expect((await run('appmesh-lookup-mode')).status).toBe(200);
  chmodSync(tool, 0o644);
  // root may execute a file with any execute bit, none is left here.
  expect((await run('appmesh-lookup-mode')).status).toBe(400);
});
