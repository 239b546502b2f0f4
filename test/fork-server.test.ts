import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runningAsRoot } from '../src/auth/os-user.js';
import { findNativeLauncher } from '../src/containment/native-launcher.js';
import { getApp, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// The fork server (appmesh-launch --serve) forks every run that gets no stdin, and runs the
// launcher's steps in the forked child. Tried through a real daemon, and directly with requests
// the daemon would never send.

const program = findNativeLauncher();

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function commandLine(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

/** Processes running exactly `sleep <mark>`. */
function sleepers(mark: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        return readFileSync(`/proc/${entry}/cmdline`, 'latin1') === `sleep\0${mark}\0`;
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe.runIf(program !== undefined && runningAsRoot())('runs forked by the fork server', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d.stop();
  });

  test('a run without stdin is forked by appmesh-launch --serve, a child of the daemon; GET /appmesh/resources says so', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo $PPID', shell: true } });
    const server = Number((await response.text()).trim());
    expect(commandLine(server)).toEqual([program, '--serve']);
    expect(parentOf(server)).toBe(process.pid);
    const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment: { launcher: Record<string, unknown> } };
    expect(resources.containment.launcher).toMatchObject({ spawner: 'process', spawner_program: 'appmesh-launch' });
  });

  test('a run given stdin goes through the Node spawner, which keeps its pipe', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'cat; echo " $PPID"', shell: true, metadata: 'typed' } });
    const [text, parent] = (await response.text()).trim().split(' ');
    expect(text).toBe('typed');
    expect(commandLine(Number(parent))[0]).toBe(process.execPath);
  });

  test('a run starts with no signal blocked or ignored, and holds no descriptor of the server (only 0, 1, 2)', async () => {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'grep -E "^Sig(Blk|Ign):" /proc/self/status; ls /proc/self/fd | tr "\\n" " "', shell: true } });
    const lines = (await response.text()).trim().split('\n');
    expect(lines).toEqual(['SigBlk:\t0000000000000000', 'SigIgn:\t0000000000000000', expect.stringMatching(/^0 1 2 \d+$/)]);
  });

  test('the command replaces the forked child: the run’s pid is the command, its parent the server', async () => {
    expect((await d.request('PUT', '/appmesh/app/fs-direct', { body: { command: 'sleep 3031' } })).status).toBe(200);
    const pid = await waitFor(async () => {
      const found = sleepers('3031');
      return found.length === 1 ? found[0] : undefined;
    }, 10_000, 'the sleep running');
    expect((await getApp(d, 'fs-direct')).pid).toBe(pid);
    expect(commandLine(parentOf(pid))).toEqual([program, '--serve']);
    expect((await d.request('DELETE', '/appmesh/app/fs-direct')).status).toBe(200);
  });

  test('the server killed with SIGKILL during a long run: the run is ended and reported, a new server starts new runs', async () => {
    expect((await d.request('PUT', '/appmesh/app/fs-sleeper', { body: { command: 'sleep 3027 & sleep 3028', shell: true } })).status).toBe(200);
    const pid = await waitFor(async () => {
      const view = await getApp(d, 'fs-sleeper');
      return typeof view.pid === 'number' && view.pid > 0 ? view.pid : undefined;
    }, 10_000, 'fs-sleeper running');
    await waitFor(() => sleepers('3027').length === 1, 10_000, 'the child of the run');
    const server = parentOf(pid);
    expect(commandLine(server)).toEqual([program, '--serve']);
    process.kill(server, 'SIGKILL');
    await waitFor(async () => !(await processAlive(pid)), 15_000, 'the orphaned run ended');
    await waitFor(() => sleepers('3027').length === 0, 15_000, 'the child of the orphaned run ended');
    const app = await waitFor(async () => {
      const view = await getApp(d, 'fs-sleeper');
      return view.pid === undefined && String(view.last_error ?? '').includes('spawner') ? view : undefined;
    }, 15_000, 'the lost run reported');
    expect(String(app.last_error)).toMatch(/process spawner ended/);
    const next = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo $PPID', shell: true } });
    const newServer = Number((await next.text()).trim());
    expect(newServer).not.toBe(server);
    expect(commandLine(newServer)).toEqual([program, '--serve']);
    expect((await d.request('DELETE', '/appmesh/app/fs-sleeper')).status).toBe(200);
  });
});

describe.runIf(program !== undefined && runningAsRoot())('a fork server that keeps dying', () => {
  test('after five deaths within a minute the Node spawner takes its runs, and GET /appmesh/resources says why', async () => {
    const d = await startTestDaemon();
    try {
      const parentOfRun = async () => Number((await (await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo $PPID', shell: true } })).text()).trim());
      for (let death = 0; death < 5; death++) {
        const server = await parentOfRun();
        expect(commandLine(server)).toEqual([program, '--serve']);
        process.kill(server, 'SIGKILL');
        await waitFor(() => !existsSync(`/proc/${server}/cmdline`) || commandLine(server).length === 0, 10_000, 'the server gone');
        // Its end is seen by the daemon before the next start goes out.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const parent = await parentOfRun();
      expect(commandLine(parent)[0]).toBe(process.execPath);
      const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment: { launcher: Record<string, unknown> } };
      expect(resources.containment.launcher).toMatchObject({ spawner: 'process', spawner_program: 'node', spawner_program_reason: expect.stringMatching(/fork server ended 5 times within a minute/) });
    } finally {
      await d.stop();
    }
  });
});

const PIDS_MOUNT = '/sys/fs/cgroup/pids';

describe.runIf(program !== undefined && runningAsRoot() && existsSync(join(PIDS_MOUNT, 'cgroup.procs')))('run cgroups made by the fork server', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon({ env: { APPMESH_Limits_MaxProcessesPerUser: '77' } });
  });
  afterAll(async () => {
    await d.stop();
  });

  /** The run's folder in the pids hierarchy, from inside the run. */
  async function pidsFolderOfRun(): Promise<string> {
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'cat /proc/self/cgroup' } });
    expect(response.status).toBe(200);
    const line = (await response.text()).split('\n').find((entry) => /^\d+:pids:/.test(entry));
    return join(PIDS_MOUNT, line!.split(':')[2]);
  }

  test('a run enters its own folder under its user, made at the fork with the user’s limits above it; removed after', async () => {
    const run = await pidsFolderOfRun();
    expect(run).toMatch(/\/user-admin\/run-[0-9a-f-]{36}$/);
    expect(readFileSync(join(dirname(run), 'pids.max'), 'utf8').trim()).toBe('77');
    await waitFor(() => !existsSync(run), 10_000, 'the run folder removed');
  });

  test('the user’s folder removed from outside between runs: the next run makes it again, with its limits', async () => {
    const userFolder = dirname(await pidsFolderOfRun());
    await waitFor(() => readdirSync(userFolder).every((name) => !name.startsWith('run-')), 10_000, 'the run folders removed');
    rmdirSync(userFolder);
    const run = await pidsFolderOfRun();
    expect(dirname(run)).toBe(userFolder);
    expect(readFileSync(join(userFolder, 'pids.max'), 'utf8').trim()).toBe('77');
  });
});

/** The server started directly: requests as frames on its stdin, 16-byte reports on its stdout. */
function directServer() {
  const child = spawn(program!, ['--serve'], { stdio: ['pipe', 'pipe', 'ignore'] });
  let buffered = Buffer.alloc(0);
  const reports: number[][] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 16) {
      reports.push([0, 4, 8, 12].map((offset) => buffered.readInt32LE(offset)));
      buffered = buffered.subarray(16);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, reports, exited };
}

/** A start request: kind 1, then id, flags, stdout, uid, gid, argc, envc, folders, writes. */
function frame(id: number, argc: number, strings: string[], envc = 0, folders = 0): Buffer {
  const body = Buffer.from(strings.map((text) => `${text}\0`).join(''));
  const header = Buffer.alloc(44);
  header.writeUInt32LE(40 + body.length, 0);
  [1, id, 0, -1, -1, -1, argc, envc, folders, 0].forEach((word, index) => header.writeInt32LE(word, 4 + index * 4));
  return Buffer.concat([header, body]);
}

describe.runIf(program !== undefined)('the fork server given malformed requests', () => {
  test('a request whose counts exceed its strings is refused (EINVAL), and the next request is served', async () => {
    const server = directServer();
    server.child.stdin.write(frame(1, 1000, ['true', '/', 'true']));
    server.child.stdin.write(frame(2, 1, ['true', '/', 'true'], 1));
    server.child.stdin.write(frame(3, 1, ['true', '/', 'true', 'PATH=/usr/bin:/bin'], 1));
    // A folder that cannot be made: the start fails at its cgroup (stage 4), nothing runs.
    server.child.stdin.write(frame(4, 1, ['true', '/', 'true', '/proc/no-such-folder/run-x'], 0, 1));
    await waitFor(() => server.reports.length >= 6, 10_000, 'the reports');
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
    // An exit may come before a later request's report: found by kind and id.
    const find = (kind: number, id: number) => server.reports.find((report) => report[0] === kind && report[1] === id);
    expect(server.reports[0]).toEqual([0, 0, 0, 0]);
    expect(find(2, 1)?.[2]).toBe(22);
    expect(find(2, 2)?.[2]).toBe(22);
    expect(find(1, 3)).toBeDefined();
    expect(find(3, 3)).toEqual([3, 3, 0, 0]);
    expect(find(2, 4)).toEqual([2, 4, 2, 4]);
  });

  test('a request larger than any exec takes is read past and refused (E2BIG); the server goes on', async () => {
    const server = directServer();
    const huge = Buffer.alloc(17 * 1024 * 1024, 0x61);
    huge.writeUInt32LE(huge.length - 4, 0);
    huge.writeUInt32LE(1, 4);
    huge.writeUInt32LE(9, 8);
    server.child.stdin.write(huge);
    server.child.stdin.write(frame(10, 1, ['true', '/', 'true']));
    await waitFor(() => server.reports.some((report) => report[0] === 3 && report[1] === 10), 10_000, 'the next request served');
    server.child.stdin.end();
    expect(await server.exited).toBe(0);
    expect(server.reports.find((report) => report[1] === 9)).toEqual([2, 9, 7, 3]);
  });

  test('through the daemon, a start too large for the server fails alone: the server and other runs go on', async () => {
    // Bodies this large pass only where an admin allowed them.
    const d = await startTestDaemon({ env: { APPMESH_Limits_RequestBodyLimitBytes: String(64 * 1024 * 1024) } });
    try {
      expect((await d.request('PUT', '/appmesh/app/fs-bystander', { body: { command: 'sleep 3041' } })).status).toBe(200);
      const pid = await waitFor(async () => {
        const view = await getApp(d, 'fs-bystander');
        return typeof view.pid === 'number' && view.pid > 0 ? view.pid : undefined;
      }, 10_000, 'the bystander running');
      const huge = 'x'.repeat(17 * 1024 * 1024);
      const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'true', env: { HUGE: huge } } });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toMatch(/too large/);
      expect(await processAlive(pid)).toBe(true);
      const after = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo fine' } });
      expect(await after.text()).toBe('fine\n');
    } finally {
      await d.stop();
    }
  });
});
