import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, writeFileSync } from 'node:fs';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

const DEV_PASSWORD = 'Dev-Password-1x';
let d: TestDaemon;
let devToken: string;
let scratch: string;

beforeAll(async () => {
  d = await startTestDaemon();
  scratch = await mkdtemp(join(tmpdir(), 'appmesh-output-completeness-'));
  expect((await d.request('PUT', '/appmesh/user/dev', { body: { key: DEV_PASSWORD, group: 'dev', roles: ['manage', 'view', 'shell'] } })).status).toBe(200);
  devToken = await login(d.url, 'dev', DEV_PASSWORD);
});
afterAll(async () => {
  await d?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

interface Page {
  data: Buffer;
  position: number;
  exitCode?: number;
}

async function readPage(name: string, uuid: string, position: number, token = d.token, timeout = 0): Promise<Page> {
  const response = await d.request('GET', `/appmesh/app/${name}/output?stdout_position=${position}&process_uuid=${uuid}&timeout=${timeout}`, { token });
  expect(response.status).toBe(200);
  const exit = response.headers.get('x-exit-code');
  return {
    data: Buffer.from(await response.arrayBuffer()),
    position: Number(response.headers.get('x-output-position') ?? position),
    exitCode: exit === null ? undefined : Number(exit),
  };
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; ) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Holds every thread of the thread pool (a FIFO's read end opened without a writer blocks its
 * thread) until the returned function is called: a read of a large page then waits in the queue.
 */
function holdThreadPool(): () => Promise<void> {
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const fifos = Array.from({ length: threads }, (_, index) => join(scratch, `hold-${index}`));
  execFileSync('mkfifo', fifos);
  const opened = fifos.map((fifo) => open(fifo, 'r'));
  let released: Promise<void> | undefined;
  return () =>
    (released ??= (async () => {
      // Opening the write ends lets each blocked open return.
      const writers = fifos.map((fifo) => openSync(fifo, constants.O_WRONLY));
      for (const handle of await Promise.all(opened)) await handle.close();
      for (const fd of writers) closeSync(fd);
    })());
}

describe('the exit code is sent only with the end of the output', () => {
  test('a page read while the run ends does not carry the exit code without the last bytes', async () => {
    const marker = join(scratch, 'go');
    const bulk = 300_000;
    // A page larger than a small read is read in the thread pool; the run ends meanwhile.
    const command = `head -c ${bulk} /dev/zero | tr '\\0' z; while [ ! -e ${marker} ]; do sleep 0.05; done; echo; echo LAST-LINE; exit 3`;
    const started = await d.request('POST', '/appmesh/app/run?timeout=60&lifecycle=60', { body: { command, shell: true } });
    expect(started.status).toBe(200);
    const run = (await started.json()) as { name: string; process_uuid: string };
    // The output API as the REST route calls it, its caller authenticated before the pool is held.
    const principal = await d.daemon.core.auth.authenticate(d.token);
    await waitFor(async () => d.daemon.core.apps.runState(principal, run.name).output_size >= bulk, 'the first bytes of output');
    const release = holdThreadPool();
    let page;
    try {
      page = d.daemon.core.apps.output(principal, run.name, { stdout_position: '0', process_uuid: run.process_uuid });
      writeFileSync(marker, '');
      await waitFor(async () => !d.daemon.core.apps.runState(principal, run.name).running, 'the exit');
    } finally {
      await release();
    }

    // Paged as SDKs do: until a page carries the exit code.
    const first = await page;
    const parts: Buffer[] = [first.data];
    let next: Page = { data: first.data, position: first.position ?? 0, exitCode: first.exitCode };
    while (next.exitCode === undefined) {
      next = await readPage(run.name, run.process_uuid, next.position);
      parts.push(next.data);
    }
    const output = Buffer.concat(parts).toString();
    expect(output.length).toBe(bulk + '\nLAST-LINE\n'.length);
    expect(output.endsWith('\nLAST-LINE\n')).toBe(true);
    expect(next.exitCode).toBe(3);
  });
});

interface Shape {
  name: string;
  command: string;
  expected: string;
  code: number;
  working_dir?: string;
}

/** `bytes` of 'z', then a last line, the last thing written before the exit. */
const bulkThenLastLine = (bytes: number): Pick<Shape, 'command' | 'expected'> => ({
  command: `head -c ${bytes} /dev/zero | tr '\\0' z; echo; echo LAST-LINE`,
  expected: `${'z'.repeat(bytes)}\nLAST-LINE\n`,
});

const SHAPES: Shape[] = [
  { name: 'a few lines', command: "printf 'a\\nb\\nc\\n'", expected: 'a\nb\nc\n', code: 0 },
  { name: 'stdout and stderr, exit 3', command: 'echo x; echo y >&2; exit 3', expected: 'x\ny\n', code: 3 },
  {
    name: 'a working_dir that does not exist',
    command: 'cd /nonexistent/workspace 2>/dev/null || { echo "/nonexistent/workspace does not exist" >&2; exit 127; }\necho ran-elsewhere',
    expected: '/nonexistent/workspace does not exist\n',
    code: 127,
    working_dir: '/nonexistent/workspace',
  },
  { name: 'just below the hand-over to the copier', ...bulkThenLastLine(1024 * 1024 - 200), code: 0 },
  { name: 'across the hand-over to the copier', ...bulkThenLastLine(1024 * 1024 - 3), code: 0 },
  { name: 'past the hand-over to the copier', ...bulkThenLastLine(1024 * 1024 + 5000), code: 0 },
  { name: 'killed right after writing', command: 'for i in 1 2 3 4 5 6; do echo line$i; done; kill -9 $$', expected: 'line1\nline2\nline3\nline4\nline5\nline6\n', code: -9 },
];

async function syncRun(shape: Shape, token: string): Promise<{ output: string; code: number }> {
  const response = await d.request('POST', '/appmesh/app/syncrun?timeout=60', { token, body: { command: shape.command, shell: true, working_dir: shape.working_dir } });
  expect(response.status).toBe(200);
  const output = await response.text();
  return { output, code: Number(response.headers.get('x-exit-code')) };
}

/** Started, then paged as the SDKs do (a long-poll when nothing moved) until a page carries the exit code. */
async function asyncRun(shape: Shape, token: string): Promise<{ output: string; code: number }> {
  const started = await d.request('POST', '/appmesh/app/run?timeout=60&lifecycle=60', { token, body: { command: shape.command, shell: true, working_dir: shape.working_dir } });
  expect(started.status).toBe(200);
  const run = (await started.json()) as { name: string; process_uuid: string };
  const parts: Buffer[] = [];
  let position = 0;
  let idle = false;
  for (;;) {
    const page = await readPage(run.name, run.process_uuid, position, token, idle ? 1 : 0);
    parts.push(page.data);
    idle = page.position === position && page.data.length === 0;
    position = page.position;
    if (page.exitCode !== undefined) return { output: Buffer.concat(parts).toString(), code: page.exitCode };
  }
}

describe('every run returns its whole output, byte for byte', () => {
  test('short and long outputs, run and waited for or followed, by an admin and by a user, two at a time', async () => {
    const failures: string[] = [];
    await Promise.all(
      [d.token, devToken].map(async (token) => {
        for (const shape of SHAPES) {
          for (const [mode, run] of [['syncrun', syncRun], ['run', asyncRun]] as const) {
            const got = await run(shape, token);
            if (got.output !== shape.expected || got.code !== shape.code) {
              failures.push(`${shape.name} (${mode}, ${token === d.token ? 'admin' : 'dev'}): exit ${got.code}, ${got.output.length} of ${shape.expected.length} bytes, ending ${JSON.stringify(got.output.slice(-24))}`);
            }
          }
        }
      }),
    );
    expect(failures).toEqual([]);
  });
});
