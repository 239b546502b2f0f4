import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { detectCgroups } from '../src/containment/cgroup-detect.js';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * A shell command the daemon runs as its own account is what `bash -c` makes of it, whichever
 * launcher starts it: one pipe for stdout and stderr in order, the exit code, bash's own `$0`, no
 * positional parameters, bash's messages with the command's line numbers, and its own cgroup.
 */
const cgroupsUsable = process.getuid?.() === 0 && detectCgroups().mode !== 'none' && process.env.APPMESH_CGROUPS !== 'off';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

async function syncrun(command: string): Promise<{ exitCode: string | null; text: string }> {
  const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command, shell: true } });
  expect(response.status).toBe(200);
  return { exitCode: response.headers.get('x-exit-code'), text: await response.text() };
}

describe('shell runs as the daemon itself', () => {
  test('stderr joins stdout in order, and the exit code is the command\'s', async () => {
    expect(await syncrun('echo one; echo two >&2; echo three; exit 7')).toEqual({ exitCode: '7', text: 'one\ntwo\nthree\n' });
  });

  test('the command gets bash\'s $0 and no positional parameters', async () => {
    expect((await syncrun('echo "$0 $# [$*]"')).text).toBe('bash 0 []\n');
  });

  test('bash names the command\'s own line in its messages', async () => {
    const first = await syncrun('no-such-command-here');
    expect(first.exitCode).toBe('127');
    expect(first.text).toBe('bash: line 1: no-such-command-here: command not found\n');
    const second = await syncrun('true\nno-such-command-here');
    expect(second.text).toBe('bash: line 2: no-such-command-here: command not found\n');
  });

  test('$$ is the run\'s process, and it is the one reported as the run\'s pid', async () => {
    const started = await d.request('POST', '/appmesh/app/run', { body: { command: 'echo $$; sleep 0.3', shell: true } });
    expect(started.status).toBe(200);
    const { name, process_uuid: uuid } = (await started.json()) as { name: string; process_uuid: string };
    const view = (await (await d.request('GET', `/appmesh/app/${name}`)).json()) as { pid?: number };
    const output = await d.request('GET', `/appmesh/app/${name}/output?process_uuid=${uuid}&timeout=10`);
    expect(Number((await output.text()).trim())).toBe(view.pid);
  });

  test.runIf(cgroupsUsable)('the command runs in its own cgroup, not the daemon\'s', async () => {
    const own = await readFile('/proc/self/cgroup', 'utf8');
    const { text } = await syncrun('cat /proc/$$/cgroup');
    expect(text).not.toBe(own);
    expect(text).toContain('appmesh');
  });
});
