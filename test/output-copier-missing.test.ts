// An install whose output copier (the worker thread that copies large outputs) cannot be loaded
// still captures every byte: the copy stays on the event loop. A copy of the bundled daemon
// without the copier's file, in its own process.
import { type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { spawnBundledDaemon } from './helpers/bundled-daemon.js';
import { login, waitFor } from './helpers/test-daemon.js';

const ROOT = join(import.meta.dirname, '..');
const BUNDLE = join(ROOT, 'dist', 'bundle');
// Beside the real bundle, so its few external modules resolve as they do there.
const COPY = join(ROOT, 'dist', `bundle-without-copier-${process.pid}`);
const PASSWORD = 'Copier-Admin-Password-1';

let child: ChildProcess;
let home: string;
let url: string;
let readOutput = () => '';

beforeAll(async () => {
  expect(existsSync(join(BUNDLE, 'copy-worker.js')), 'the bundle is built by npm run build').toBe(true);
  cpSync(BUNDLE, COPY, { recursive: true });
  rmSync(join(COPY, 'copy-worker.js'));
  const daemon = await spawnBundledDaemon({ password: PASSWORD, main: join(COPY, 'main.js') });
  ({ child, home, url } = daemon);
  readOutput = daemon.output;
  await waitFor(async () => (await fetch(`${url}/appmesh/readyz`).catch(() => undefined))?.status === 200, 20_000, 'readyz of the daemon without its copier');
}, 30_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  rmSync(COPY, { recursive: true, force: true });
  if (home) await rm(home, { recursive: true, force: true });
});

test('a 2.5 MiB output arrives whole and the writer is never cut off; the missing copier is reported once', async () => {
  const admin = await login(url, 'admin', PASSWORD);
  const bytes = 2.5 * 1024 * 1024;
  for (let run = 0; run < 2; run++) {
    const response = await fetch(`${url}/appmesh/app/syncrun`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ command: `head -c ${bytes} /dev/zero; echo "exit of head: $?"`, shell: true }),
    });
    expect(response.status).toBe(200);
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.length).toBe(bytes + 'exit of head: 0\n'.length);
    expect(body.subarray(bytes).toString()).toBe('exit of head: 0\n');
    expect(response.headers.get('x-exit-code')).toBe('0');
  }
  expect(readOutput().split('output copier not started').length - 1).toBe(1);
}, 60_000);
