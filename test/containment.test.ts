import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { detectCgroups } from '../src/containment/cgroup-detect.js';
import { getApp, login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// cgroups need root and a kernel that offers them: the daemon's CI has both.
const asRoot = process.getuid?.() === 0;
// APPMESH_CGROUPS=off in the environment runs the whole suite on process groups: these then skip.
const cgroupsUsable = asRoot && detectCgroups().mode !== 'none' && process.env.APPMESH_CGROUPS !== 'off';
const has = (command: string, args: string[]) => {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const hasPython = has('python3', ['-c', 'pass']);
const hasGcc = has('gcc', ['--version']);

/** Pids of live (not zombie) processes whose command line contains `marker`. */
async function processesWith(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').join(' ');
      if (!cmdline.includes(marker)) continue;
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z') found.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** Test clean-up: whatever a failed test left behind. */
async function killAll(marker: string): Promise<void> {
  for (const pid of await processesWith(marker)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
}

/** The cgroup folder (pids hierarchy, v1) or the v2 folder a process is in. */
async function cgroupFolderOf(pid: number): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '');
  const line = text.split('\n').find((entry) => /^\d+:pids:/.test(entry)) ?? text.split('\n').find((entry) => entry.startsWith('0::'));
  return line?.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
}

/**
 * A command leaving sleepers behind the usual ways: a new session (`setsid`), and a double fork
 * whose grandchild is re-parented to init. `marker` is the sleep's duration, unique per test.
 */
const escapingCommand = (marker: string) => `setsid sh -c 'sleep ${marker} & sleep ${marker}' & ( ( sleep ${marker} & ) & ) ; setsid sleep ${marker} & sleep ${marker}`;

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ env: { APPMESH_Limits_KillGraceSeconds: '1' } });
});
afterAll(async () => {
  await d.stop();
});

describe.runIf(cgroupsUsable)('a cgroup per process tree', () => {
  const markers = ['4201', '4202', '4203', '4204', '4205', '4206'];
  afterAll(async () => {
    for (const marker of markers) await killAll(marker);
  });

  test('/appmesh/resources reports the cgroup mode and its controllers', async () => {
    const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment: { cgroups: { mode: string; controllers: string[] } } };
    expect(['v1', 'v2']).toContain(resources.containment.cgroups.mode);
    expect(resources.containment.cgroups.controllers).toEqual(expect.arrayContaining(['memory', 'pids']));
  });

  test('DELETE of an app leaves nothing of a tree that escaped with setsid and a double fork, and removes its cgroup', async () => {
    const marker = markers[0];
    expect((await d.request('PUT', '/appmesh/app/escaper', { body: { command: escapingCommand(marker), shell: true } })).status).toBe(200);
    await waitFor(async () => (await processesWith(marker)).length >= 5 || undefined, 10_000, 'the sleepers');
    const pid = (await getApp(d, 'escaper')).pid as number;
    const folder = await cgroupFolderOf(pid);
    expect(folder).toMatch(/\/appmesh-[0-9a-f]{12}\/user-admin\/run-[0-9a-f-]{36}$/);
    expect((await d.request('DELETE', '/appmesh/app/escaper')).status).toBe(200);
    expect(await processesWith(marker)).toEqual([]);
    const mounted = ['/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified', '/sys/fs/cgroup'].map((root) => join(root, folder!));
    expect(mounted.filter((dir) => existsSync(dir))).toEqual([]);
  });

  test('DELETE right after registering stops the process even before it has entered its cgroup', async () => {
    for (let round = 0; round < 5; round++) {
      expect((await d.request('PUT', '/appmesh/app/short-lived', { body: { command: 'sleep 4207' } })).status).toBe(200);
      const started = Date.now();
      expect((await d.request('DELETE', '/appmesh/app/short-lived')).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2500);
    }
    expect(await processesWith('sleep 4207')).toEqual([]);
  });

  test('disabling a managed app leaves nothing of its tree', async () => {
    const marker = markers[1];
    expect((await d.request('PUT', '/appmesh/app/escaper2', { body: { command: escapingCommand(marker), shell: true } })).status).toBe(200);
    await waitFor(async () => (await processesWith(marker)).length >= 5 || undefined, 10_000, 'the sleepers');
    expect((await d.request('POST', '/appmesh/app/escaper2/disable')).status).toBe(200);
    expect(await processesWith(marker)).toEqual([]);
    await d.request('DELETE', '/appmesh/app/escaper2');
  });

  test('stopping a run leaves nothing of its tree', async () => {
    const marker = markers[2];
    const response = await d.request('POST', '/appmesh/app/run?timeout=60', { body: { command: escapingCommand(marker), shell: true } });
    expect(response.status).toBe(200);
    const { name } = (await response.json()) as { name: string };
    await waitFor(async () => (await processesWith(marker)).length >= 5 || undefined, 10_000, 'the sleepers');
    const principal = await d.daemon.core.auth.authenticate(d.token);
    await d.daemon.core.apps.stopRun(principal, name);
    expect(await processesWith(marker)).toEqual([]);
  });

  test('a run that reaches its timeout leaves nothing of its tree', async () => {
    const marker = markers[3];
    const response = await d.request('POST', '/appmesh/app/syncrun?timeout=2', { body: { command: escapingCommand(marker), shell: true } });
    expect(response.status).toBe(200);
    expect(await processesWith(marker)).toEqual([]);
  });

  test('what a finished run left behind is killed with its cgroup', async () => {
    const marker = markers[4];
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: `setsid sleep ${marker} > /dev/null 2>&1 & sleep 0.3; echo started`, shell: true } });
    expect(await response.text()).toBe('started\n');
    await waitFor(async () => (await processesWith(marker)).length === 0 || undefined, 5_000, 'the leftover to be killed');
  });

  test('a health check that leaves a process behind leaves nothing', async () => {
    const marker = markers[5];
    expect((await d.request('PUT', '/appmesh/app/checked', { body: { command: 'sleep 300', health_check_cmd: `sh -c 'setsid sleep ${marker} & sleep 0.3'` } })).status).toBe(200);
    // A check runs each tick (1 s).
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect((await d.request('POST', '/appmesh/app/checked/disable')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await processesWith(marker)).toEqual([]);
    await d.request('DELETE', '/appmesh/app/checked');
  });
});

describe.runIf(cgroupsUsable)('per-user limits', () => {
  // A sleep length no other run uses: the count is of this bomb's processes only.
  const marker = String(4_300_000 + Math.floor(Math.random() * 100_000));
  afterAll(async () => {
    await killAll(marker);
    await d.request('POST', '/appmesh/config', { body: { Limits: { MaxProcessesPerUser: 1024 } } });
  });

  test("a user's fork bomb is held at Limits.MaxProcessesPerUser, the daemon and other users keep working, DELETE leaves nothing", async () => {
    const max = 40;
    expect((await d.request('POST', '/appmesh/config', { body: { Limits: { MaxProcessesPerUser: max } } })).status).toBe(200);
    for (const user of ['bomber', 'bystander']) {
      const created = await d.request('PUT', `/appmesh/user/${user}`, { body: { key: `${user}-Password-1`, group: user, roles: ['manage', 'view', 'shell'] } });
      expect(created.status, await created.clone().text()).toBe(200);
    }
    const bomber = await login(d.url, 'bomber', 'bomber-Password-1');
    const bystander = await login(d.url, 'bystander', 'bystander-Password-1');
    const bomb = `for i in $(seq 1 3000); do sleep ${marker} & done; wait`;
    expect((await d.request('PUT', '/appmesh/app/bomb', { token: bomber, body: { command: bomb, shell: true } })).status).toBe(200);
    await waitFor(async () => (await processesWith(marker)).length >= max - 5 || undefined, 15_000, 'the bomb to reach the limit');

    let highest = 0;
    for (let sample = 0; sample < 10; sample++) {
      highest = Math.max(highest, (await processesWith(marker)).length);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(highest).toBeLessThanOrEqual(max);

    expect((await d.request('GET', '/appmesh/readyz', { token: null })).status).toBe(200);
    const other = await d.request('POST', '/appmesh/app/syncrun', { token: bystander, body: { command: 'echo still-here', shell: true } });
    expect(await other.text()).toBe('still-here\n');

    expect((await d.request('DELETE', '/appmesh/app/bomb', { token: bomber })).status).toBe(200);
    expect(await processesWith(marker)).toEqual([]);
  });
});

describe.runIf(cgroupsUsable)('per-user limits after a change', () => {
  afterAll(async () => {
    await d.request('POST', '/appmesh/config', { body: { Limits: { MaxProcessesPerUser: 1024 } } });
  });

  /** pids.max of the user's cgroup folder, the parent of the folder the app's leader is in. */
  async function userPidsMax(app: string, token: string): Promise<string> {
    const view = await waitFor(async () => {
      const found = (await (await d.request('GET', `/appmesh/app/${app}`, { token })).json()) as { pid?: number };
      return found.pid ? found : undefined;
    }, 10_000, `${app} to run`);
    const detection = detectCgroups();
    const [pattern, root] =
      detection.mode === 'v1'
        ? [/^\d+:[^:]*\bpids\b[^:]*:/, detection.hierarchies.find((hierarchy) => hierarchy.controllers.includes('pids'))!.dir]
        : detection.mode === 'v2'
          ? [/^0::/, detection.hierarchy.dir]
          : [/^$/, ''];
    const line = (await readFile(`/proc/${view.pid}/cgroup`, 'utf8')).split('\n').find((entry) => pattern.test(entry));
    expect(line, 'the leader is in a pids cgroup').toBeDefined();
    const runDir = join(root, line!.slice(line!.indexOf(':', line!.indexOf(':') + 1) + 1));
    return (await readFile(join(runDir, '..', 'pids.max'), 'utf8')).trim();
  }

  test("a changed Limits.MaxProcessesPerUser reaches a user whose cgroup folder already exists, at the next start", async () => {
    expect((await d.request('PUT', '/appmesh/user/changer', { body: { key: 'changer-Password-1', group: 'changer', roles: ['manage', 'view'] } })).status).toBe(200);
    const token = await login(d.url, 'changer', 'changer-Password-1');
    expect((await d.request('POST', '/appmesh/config', { body: { Limits: { MaxProcessesPerUser: 700 } } })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/app/first-limit', { token, body: { command: 'sleep 300' } })).status).toBe(200);
    expect(await userPidsMax('first-limit', token)).toBe('700');
    expect((await d.request('POST', '/appmesh/config', { body: { Limits: { MaxProcessesPerUser: 55 } } })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/app/second-limit', { token, body: { command: 'sleep 300' } })).status).toBe(200);
    expect(await userPidsMax('second-limit', token)).toBe('55');
    for (const app of ['first-limit', 'second-limit']) await d.request('DELETE', `/appmesh/app/${app}`, { token });
  });
});

describe.runIf(cgroupsUsable && hasPython)('memory limits', () => {
  test('resource_limit.memory_mb is enforced by the kernel at once, and last_error says so', async () => {
    const started = Date.now();
    expect(
      (
        await d.request('PUT', '/appmesh/app/hog', {
          body: {
            command: 'python3 -c "import time; x = bytearray(200 * 1024 * 1024); x[::4096] = b\'1\' * len(x[::4096]); time.sleep(300)"',
            resource_limit: { memory_mb: 30 },
            behavior: { exit: 'standby' },
          },
        })
      ).status,
    ).toBe(200);
    const app = await waitFor(async () => {
      const view = await getApp(d, 'hog');
      return view.return_code !== undefined ? view : undefined;
    }, 15_000, 'the kernel to stop the app');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(app.return_code).toBe(-9);
    expect(String(app.last_error)).toMatch(/out of memory: killed by the kernel, memory exceeded resource_limit.memory_mb 30/);
    await d.request('DELETE', '/appmesh/app/hog');
  });
});

describe('output written by the daemon', () => {
  afterAll(async () => {
    await d.request('POST', '/appmesh/config', { body: { Limits: { MaxOutputBytesPerRun: 100 * 1024 * 1024 } } });
  });

  test('a run writing 50 MB never has an output file above Limits.MaxOutputBytesPerRun, and syncrun returns the tail', async () => {
    const cap = 1024 * 1024;
    expect((await d.request('POST', '/appmesh/config', { body: { Limits: { MaxOutputBytesPerRun: cap } } })).status).toBe(200);
    const file = join(d.home, 'work', 'stdout', 'appmesh.bigwriter.out');
    let highest = 0;
    let samples = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        try {
          highest = Math.max(highest, statSync(file).size);
          samples++;
        } catch {
          // Not created yet, or removed at the end of the run.
        }
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    const command = `for i in $(seq 1 50); do head -c 1000000 /dev/zero | tr '\\\\0' a; echo; done; echo THE-END`;
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'bigwriter', command, shell: true } });
    done = true;
    await sampler;
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(samples).toBeGreaterThan(10);
    expect(highest).toBeGreaterThan(0);
    expect(highest).toBeLessThanOrEqual(cap);
    expect(text.endsWith('THE-END\n')).toBe(true);
    expect(text.length).toBeLessThanOrEqual(cap);
  });

  test('stdout and stderr keep their order in one output, and /dev/stdout and /dev/stderr can be opened', async () => {
    const command = 'for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done; echo opened > /dev/stderr; echo again | tee /dev/stdout';
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command, shell: true } });
    expect(await response.text()).toBe('out1\nerr1\nout2\nerr2\nout3\nerr3\nout4\nerr4\nout5\nerr5\nopened\nagain\nagain\n');
  });

  test('the pid the daemon reports is the command’s own (the launcher execs)', async () => {
    expect((await d.request('PUT', '/appmesh/app/selfpid', { body: { command: 'echo $$; exec sleep 300', shell: true } })).status).toBe(200);
    const reported = await waitFor(async () => (await getApp(d, 'selfpid')).pid as number | undefined, 10_000, 'the app to run');
    const printed = await waitFor(async () => Number((await (await d.request('GET', '/appmesh/app/selfpid/output')).text()).trim()) || undefined, 10_000, 'its pid');
    expect(printed).toBe(reported);
    await d.request('DELETE', '/appmesh/app/selfpid');
  });

  test('a run whose leftover keeps the output pipe open still ends, with its output', async () => {
    const started = Date.now();
    const response = await d.request('POST', '/appmesh/app/syncrun', { body: { command: 'sleep 4401 & echo first', shell: true } });
    expect(await response.text()).toBe('first\n');
    expect(Date.now() - started).toBeLessThan(5000);
    await killAll('4401');
  });
});

describe.runIf(asRoot && hasGcc)('the launcher', () => {
  test("a user's LD_PRELOAD reaches the command but never the part of the launcher that runs as root", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'appmesh-preload-'));
    try {
      chmodSync(dir, 0o777);
      // Each process that loads the library appends its uid to the log.
      const source = join(dir, 'spy.c');
      writeFileSync(source, '#include <stdio.h>\n#include <stdlib.h>\n#include <unistd.h>\n__attribute__((constructor)) static void spy(void) { const char *log = getenv("SPY_LOG"); FILE *f = log ? fopen(log, "a") : 0; if (f) { fprintf(f, "%d\\n", (int)getuid()); fclose(f); } }\n');
      const library = join(dir, 'spy.so');
      execFileSync('gcc', ['-shared', '-fPIC', '-o', library, source]);
      chmodSync(library, 0o755);
      const log = join(dir, 'uids.log');
      writeFileSync(log, '');
      chmodSync(log, 0o666);
      const created = await d.request('PUT', '/appmesh/user/preloader', { body: { key: 'Preloader-Password-1', group: 'preloader', roles: ['view', 'shell'] } });
      expect(created.status).toBe(200);
      const preloader = await login(d.url, 'preloader', 'Preloader-Password-1');
      const response = await d.request('POST', '/appmesh/app/syncrun', { token: preloader, body: { command: 'true', env: { LD_PRELOAD: library, SPY_LOG: log } } });
      expect(response.status).toBe(200);
      const uids = (await readFile(log, 'utf8')).split('\n').filter(Boolean).map(Number);
      expect(uids.length).toBeGreaterThan(0);
      expect(uids.filter((uid) => uid === 0)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('without cgroups', () => {
  let plain: TestDaemon;
  beforeAll(async () => {
    plain = await startTestDaemon({ env: { APPMESH_CGROUPS: 'off' } });
  });
  afterAll(async () => {
    await plain.stop();
  });

  test('runs still work and /appmesh/resources says none, with the reason', async () => {
    const resources = (await (await plain.request('GET', '/appmesh/resources')).json()) as { containment: { cgroups: { mode: string; reason: string } } };
    expect(resources.containment.cgroups.mode).toBe('none');
    expect(resources.containment.cgroups.reason).toMatch(/APPMESH_CGROUPS=off/);
    const response = await plain.request('POST', '/appmesh/app/syncrun', { body: { command: 'echo out; echo err >&2; exit 3', shell: true } });
    expect(response.headers.get('X-Exit-Code')).toBe('3');
    expect(await response.text()).toBe('out\nerr\n');
  });
});
