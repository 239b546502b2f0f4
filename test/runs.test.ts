import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

describe('POST /appmesh/app/syncrun', () => {
  test('returns the output and X-Exit-Code 0 of echo', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo hello world' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('x-exit-code')).toBe('0');
    expect(response.headers.get('x-output-position')).toBe('12');
    expect(await response.text()).toBe('hello world\n');
  });

  test('reports the exit code of a failing command and merges stderr', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo out; echo err >&2; exit 3', shell: true } });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-exit-code')).toBe('3');
    expect(await response.text()).toBe('out\nerr\n');
  });

  test('removes the temporary app after the reply', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'sync-named', command: 'true' } });
    expect(response.status).toBe(200);
    expect((await d.request('GET', '/appmesh/app/sync-named')).status).toBe(404);
  });

  test('passes metadata on stdin and env to the process', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', {
      body: { command: 'cat; echo " $GREETING $APP_MESH_APPLICATION_NAME"', shell: true, metadata: { a: 1 }, env: { GREETING: 'hey' }, name: 'meta-run' },
    });
    expect(await response.text()).toBe('{"a":1} hey meta-run\n');
  });

  test('keeps sec_env out of every answer but gives it to the process', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'printenv TOKEN', sec_env: { TOKEN: 's3cret' } } });
    expect(await response.text()).toBe('s3cret\n');
  });

  test('a timeout kills the shell and its background grandchild', async () => {
    const marker = `grandchild-${randomBytes(4).toString('hex')}`;
    const started = Date.now();
    const response = await d.request('POST', '/appmesh/app/syncrun?timeout=1', {
      body: { command: `sleep 300 & echo $!; exec -a ${marker} sleep 300`, shell: true },
    });
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(15_000);
    const exitCode = Number(response.headers.get('x-exit-code'));
    expect(exitCode).toBeLessThan(0);
    const grandchild = Number((await response.text()).trim());
    expect(grandchild).toBeGreaterThan(0);
    await waitFor(async () => !(await processAlive(grandchild)), 10_000, 'the grandchild to be gone');
  });

  test('rejects a command that cannot start with 400 and leaves no app', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'no-such', command: '/no/such/binary' } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/no\/such\/binary/);
    expect((await d.request('GET', '/appmesh/app/no-such')).status).toBe(404);
  });

  test('zero timeout and zero lifecycle is refused', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun?timeout=0&lifecycle=0', { body: { command: 'true' } });
    expect(response.status).toBe(400);
  });

  test('a run without a command is refused', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { description: 'nothing to run' } });
    expect(response.status).toBe(400);
  });
});

describe('POST /appmesh/app/run and GET output', () => {
  test('a 2 MB output is reassembled byte-exact by paging /output', async () => {
    // 2 MiB of random bytes, base64 to keep it printable, produced by the process itself.
    const script = "head -c 1572864 /dev/urandom | base64 -w 0 | tee /dev/stderr | sha256sum >&2";
    const started = await d.request('POST', '/appmesh/app/run', { body: { command: script, shell: true } });
    expect(started.status).toBe(200);
    const { name, process_uuid: uuid } = (await started.json()) as { name: string; process_uuid: string };
    expect(name).toMatch(/^[A-Za-z0-9]+$/);
    expect(uuid).toBeTruthy();

    const chunks: Buffer[] = [];
    let position = 0;
    let exitCode: string | null = null;
    for (let round = 0; round < 2000 && exitCode === null; round++) {
      const response = await d.request('GET', `/appmesh/app/${name}/output?stdout_position=${position}&stdout_index=0&stdout_maxsize=20480&process_uuid=${uuid}&timeout=1`);
      expect(response.status).toBe(200);
      chunks.push(Buffer.from(await response.arrayBuffer()));
      const next = response.headers.get('x-output-position');
      if (next !== null) position = Number(next);
      exitCode = response.headers.get('x-exit-code');
    }
    expect(exitCode).toBe('0');
    const output = Buffer.concat(chunks).toString('utf8');
    // The base64 text is followed by its own sha256 line, so the check is end to end.
    const [data, checksumLine] = [output.slice(0, 2_097_152), output.slice(2_097_152)];
    expect(data.length).toBe(2_097_152);
    expect(checksumLine.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'));
    expect(position).toBe(Buffer.byteLength(output));

    const deleted = await d.request('DELETE', `/appmesh/app/${name}`);
    expect(deleted.status).toBe(200);
  });

  test('long-poll returns when the run finishes, with the exit code', async () => {
    const started = await d.request('POST', '/appmesh/app/run', { body: { command: 'sleep 0.5; echo done', shell: true } });
    const { name, process_uuid: uuid } = (await started.json()) as { name: string; process_uuid: string };
    const begin = Date.now();
    const response = await d.request('GET', `/appmesh/app/${name}/output?process_uuid=${uuid}&timeout=20`);
    expect(Date.now() - begin).toBeLessThan(10_000);
    expect(response.headers.get('x-exit-code')).toBe('0');
    expect(await response.text()).toBe('done\n');
    await d.request('DELETE', `/appmesh/app/${name}`);
  });

  test('the output of an app that has not run yet is empty, not an error (a reader right after registering never fails)', async () => {
    expect((await d.request('PUT', '/appmesh/app/not-yet', { body: { command: 'echo later', status: 0 } })).status).toBe(200);
    const response = await d.request('GET', '/appmesh/app/not-yet/output');
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('');
    expect(response.headers.get('x-exit-code')).toBeNull();
    await d.request('DELETE', '/appmesh/app/not-yet');
  });

  test('a wrong process_uuid, a missing history and a position beyond the end answer 417', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'true' } });
    expect(response.status).toBe(200);
    const started = await d.request('POST', '/appmesh/app/run', { body: { command: 'echo abc' } });
    const { name, process_uuid: uuid } = (await started.json()) as { name: string; process_uuid: string };
    await d.request('GET', `/appmesh/app/${name}/output?process_uuid=${uuid}&timeout=10`);
    expect((await d.request('GET', `/appmesh/app/${name}/output?process_uuid=wrong`)).status).toBe(417);
    expect((await d.request('GET', `/appmesh/app/${name}/output?stdout_index=3`)).status).toBe(417);
    expect((await d.request('GET', `/appmesh/app/${name}/output?stdout_position=999`)).status).toBe(417);
    const end = await d.request('GET', `/appmesh/app/${name}/output?stdout_position=4`);
    expect(end.status).toBe(200);
    expect(await end.text()).toBe('');
    expect(end.headers.get('x-output-position')).toBe('4');
    expect((await d.request('GET', `/appmesh/app/${name}/output?stdout_position=abc`)).status).toBe(400);
    await d.request('DELETE', `/appmesh/app/${name}`);
  });

  test('a run of an existing app runs a copy named <name>_<k>', async () => {
    await d.request('PUT', '/appmesh/app/template', { body: { command: 'printenv WHO', env: { WHO: 'base' }, status: 0 } });
    const first = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'template', env: { WHO: 'override' } } });
    expect(await first.text()).toBe('override\n');
    const started = await d.request('POST', '/appmesh/app/run', { body: { name: 'template' } });
    const { name } = (await started.json()) as { name: string };
    expect(name).toMatch(/^template_\d+$/);
    const withCommand = await d.request('POST', '/appmesh/app/run', { body: { name: 'template', command: 'id' } });
    expect(withCommand.status).toBe(400);
    await d.request('DELETE', `/appmesh/app/${name}`);
    await d.request('DELETE', '/appmesh/app/template');
  });
});
