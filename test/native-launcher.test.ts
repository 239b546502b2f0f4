import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runningAsRoot } from '../src/auth/os-user.js';
import { planLaunch } from '../src/containment/launcher.js';
import { findNativeLauncher, untrustedReason } from '../src/containment/native-launcher.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// The launcher program every run starts through (appmesh-launch): it enters the run's cgroups as
// root, drops to the user for good, gives back the variables held from the root part, and
// becomes the command. Tried directly, and through real daemons with it and with the shell
// launcher it replaces, which must behave the same.

const launcher = findNativeLauncher();
const PIDS_ROOT = '/sys/fs/cgroup/pids';
const NOBODY = 65534;

function launch(args: string[], env: Record<string, string> = { PATH: '/usr/bin:/bin' }): { status: number | null; output: string } {
  const result = spawnSync(launcher!, args, { env, stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' });
  return { status: result.status, output: result.stdout };
}

describe.runIf(launcher !== undefined && runningAsRoot())('appmesh-launch, run directly as root', () => {
  test('the exit status is the command’s, stderr joins stdout in order', () => {
    const result = launch(['0', '-', '-', '0', 'sh', '-c', 'echo out; echo err >&2; echo out2; exit 7']);
    expect(result).toEqual({ status: 7, output: 'out\nerr\nout2\n' });
  });

  test('it enters every cgroup given before the command runs', () => {
    const dir = join(PIDS_ROOT, `appmesh-launch-test-${process.pid}`);
    mkdirSync(dir);
    try {
      const result = launch(['1', join(dir, 'cgroup.procs'), '-', '-', '0', 'cat', '/proc/self/cgroup']);
      expect(result.status).toBe(0);
      expect(result.output).toMatch(new RegExp(`pids:/appmesh-launch-test-${process.pid}\\n`));
    } finally {
      rmdirSync(dir);
    }
  });

  test('a cgroup it cannot enter ends the launch with 125, the command never runs', () => {
    const result = launch(['1', '/proc/nonexistent/cgroup.procs', '-', '-', '0', 'sh', '-c', 'echo ran']);
    expect(result.status).toBe(125);
    expect(result.output).not.toContain('ran');
    expect(result.output).toContain('appmesh-launch: /proc/nonexistent/cgroup.procs');
  });

  test('the user has no way back: uid, gid and saved ids switched, no supplementary group, no capability', () => {
    const result = launch(['0', String(NOBODY), String(NOBODY), '0', 'sh', '-c', 'id -u; id -g; id -G; grep -E "^(Uid|Gid|CapEff|CapPrm):" /proc/self/status']);
    expect(result.status).toBe(0);
    const [uid, gid, groups, ...status] = result.output.trim().split('\n');
    expect([uid, gid, groups]).toEqual([String(NOBODY), String(NOBODY), String(NOBODY)]);
    expect(status).toEqual([
      `Uid:\t${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`,
      `Gid:\t${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`,
      'CapPrm:\t0000000000000000',
      'CapEff:\t0000000000000000',
    ]);
  });

  test('the held-back variables reach the command only, after the drop', () => {
    const result = launch(['0', String(NOBODY), String(NOBODY), '2', 'LD_LIBRARY_PATH=/opt/lib', 'BASH_ENV=/tmp/x=y', 'sh', '-c', 'id -u; echo "$LD_LIBRARY_PATH|$BASH_ENV"']);
    expect(result).toEqual({ status: 0, output: `${NOBODY}\n/opt/lib|/tmp/x=y\n` });
  });

  test('not found is 127, not executable is 126, both said on the output', () => {
    const missing = launch(['0', '-', '-', '0', 'no-such-program-here']);
    expect(missing.status).toBe(127);
    expect(missing.output).toContain('no-such-program-here: not found');
    const dir = mkdtempSync(join(tmpdir(), 'appmesh-launch-exec-'));
    try {
      writeFileSync(join(dir, 'plain'), 'echo never\n', { mode: 0o644 });
      const notExecutable = launch(['0', '-', '-', '0', join(dir, 'plain')]);
      expect(notExecutable.status).toBe(126);
      expect(notExecutable.output).toContain('Permission denied');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('malformed arguments end the launch with 125 and run nothing', () => {
    for (const args of [[], ['x'], ['2', '/a'], ['0', '12x', '-', '0', 'true'], ['0', '-', '-', '1', 'NOEQUALS', 'true'], ['0', '-', '-', '0'], ['0', '-1', '-1', '0', 'true']]) {
      expect(launch(args).status, args.join(' ')).toBe(125);
    }
  });

  test('the launch plan hands the launcher the cgroups, the ids and the held-back variables as arguments, and a clean environment', () => {
    const plan = planLaunch(
      { argv: ['echo', 'hi'], env: { PATH: '/usr/bin', LD_PRELOAD: '/tmp/evil.so' }, user: { uid: 61300, gid: 61300 }, cgroupProcsFiles: ['/cg/a/cgroup.procs'] },
      { native: launcher, setpriv: '/usr/bin/setpriv', env: '/usr/bin/env' },
    );
    expect(plan.file).toBe(launcher);
    expect(plan.args).toEqual(['1', '/cg/a/cgroup.procs', '61300', '61300', '1', 'LD_PRELOAD=/tmp/evil.so', 'echo', 'hi']);
    expect(plan.env).toEqual({ PATH: '/usr/bin' });
    expect(plan.placedBeforeExec).toBe(true);
  });
});

describe('the launcher program is used only when nobody else can change it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'appmesh-launch-trust-'));
  const source = launcher ?? '/bin/true';
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a file writable by its group or others, or in such a folder, is refused; a missing one too', () => {
    const safe = join(dir, 'safe');
    mkdirSync(safe, { mode: 0o755 });
    chmodSync(safe, 0o755);
    copyFileSync(source, join(safe, 'appmesh-launch'));
    chmodSync(join(safe, 'appmesh-launch'), 0o755);
    expect(untrustedReason(join(safe, 'appmesh-launch'))).toBeUndefined();
    expect(findNativeLauncher([join(dir, 'missing'), join(safe, 'appmesh-launch')])).toBe(join(safe, 'appmesh-launch'));

    chmodSync(join(safe, 'appmesh-launch'), 0o777);
    expect(untrustedReason(join(safe, 'appmesh-launch'))).toBe('writable by its group or others');
    expect(findNativeLauncher([join(safe, 'appmesh-launch')])).toBeUndefined();

    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    copyFileSync(source, join(open, 'appmesh-launch'));
    chmodSync(join(open, 'appmesh-launch'), 0o755);
    expect(untrustedReason(join(open, 'appmesh-launch'))).toBe(`in a folder writable by its group or others: ${open}`);
    expect(untrustedReason(join(dir, 'missing'))).toBe('not found');
  });

  test('a folder higher up that others may write (and that is not sticky) is refused: the launcher’s folder could be swapped there', () => {
    const open = join(dir, 'open-above');
    mkdirSync(join(open, 'inner'), { recursive: true });
    chmodSync(open, 0o777);
    chmodSync(join(open, 'inner'), 0o755);
    copyFileSync(source, join(open, 'inner', 'appmesh-launch'));
    chmodSync(join(open, 'inner', 'appmesh-launch'), 0o755);
    expect(untrustedReason(join(open, 'inner', 'appmesh-launch'))).toBe(`in a folder writable by its group or others: ${open}`);
    // Sticky (as /tmp): others may add entries there, never rename or remove one of ours.
    chmodSync(open, 0o1777);
    expect(untrustedReason(join(open, 'inner', 'appmesh-launch'))).toBeUndefined();
  });

  test.runIf(runningAsRoot())('a file owned by another account is refused', () => {
    const owned = join(dir, 'owned');
    mkdirSync(owned, { mode: 0o755 });
    copyFileSync(source, join(owned, 'appmesh-launch'));
    chmodSync(join(owned, 'appmesh-launch'), 0o755);
    execFileSync('chown', [`${NOBODY}`, join(owned, 'appmesh-launch')]);
    expect(untrustedReason(join(owned, 'appmesh-launch'))).toBe('owned by another account');
  });
});

// The same behaviour through a daemon, whichever launcher it uses.
for (const variant of [{ name: 'appmesh-launch', env: {} as Record<string, string> }, { name: 'sh', env: { APPMESH_LAUNCHER: 'sh' } }]) {
  describe.runIf(launcher !== undefined && runningAsRoot())(`runs started through ${variant.name}`, () => {
    let d: TestDaemon;
    let user: string;
    beforeAll(async () => {
      d = await startTestDaemon({ env: variant.env });
      expect((await d.request('PUT', '/appmesh/user/launchee', { body: { key: 'Launchee-Password-1', group: 'launchee', roles: ['view', 'shell', 'manage'] } })).status).toBe(200);
      user = await login(d.url, 'launchee', 'Launchee-Password-1');
    });
    afterAll(async () => {
      await d?.stop();
    });

    test('GET /appmesh/resources names the launcher', async () => {
      const resources = (await (await d.request('GET', '/appmesh/resources')).json()) as { containment: { launcher: Record<string, string> } };
      expect(resources.containment.launcher.program).toBe(variant.name);
      expect(resources.containment.launcher.privilege_drop).toBe(variant.name === 'sh' ? 'setpriv' : 'appmesh-launch');
      if (variant.name === 'sh') expect(resources.containment.launcher.program_reason).toContain('APPMESH_LAUNCHER=sh');
    });

    test("a user's run: its own uid and gid only, in its run's cgroup in every hierarchy, its variables (loader ones too) given", async () => {
      const body = { command: 'id -u; id -G; echo "$LD_LIBRARY_PATH"; grep -c "/run-" /proc/self/cgroup; grep -v "/run-" /proc/self/cgroup | grep -cE ":(memory|pids|freezer):"', shell: true, env: { LD_LIBRARY_PATH: '/opt/launchee' } };
      const response = await d.request('POST', '/appmesh/app/syncrun', { token: user, body });
      expect(response.status).toBe(200);
      const [uid, groups, library, inRun, outside] = (await response.text()).trim().split('\n');
      expect(Number(uid)).toBeGreaterThanOrEqual(61184);
      expect(groups).toBe(uid);
      expect(library).toBe('/opt/launchee');
      expect(Number(inRun)).toBeGreaterThanOrEqual(3);
      expect(outside).toBe('0');
    });

    test('stderr joins stdout in order, the exit code is the command’s; a missing program is 127', async () => {
      const response = await d.request('POST', '/appmesh/app/syncrun', { token: user, body: { command: 'sh -c "echo a; echo b >&2; echo c; exit 3"' } });
      expect(await response.text()).toBe('a\nb\nc\n');
      expect(response.headers.get('x-exit-code')).toBe('3');
      const missing = await d.request('POST', '/appmesh/app/syncrun', { token: user, body: { command: 'no-such-program-here' } });
      expect(missing.headers.get('x-exit-code')).toBe('127');
    });

    test('the command replaces the launcher: a long run’s pid is the command itself', async () => {
      const mark = String(4_400_000 + Math.floor(Math.random() * 100_000));
      expect((await d.request('PUT', '/appmesh/app/launched-sleep', { token: user, body: { command: `sleep ${mark}` } })).status).toBe(200);
      let pid = 0;
      for (let i = 0; i < 100 && !pid; i++) {
        const view = (await (await d.request('GET', '/appmesh/app/launched-sleep', { token: user })).json()) as { pid?: number };
        pid = view.pid ?? 0;
        if (!pid) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(pid).toBeGreaterThan(0);
      // Reported once forked: the launcher may still be entering the cgroups before it becomes the command.
      await waitFor(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === `sleep\0${mark}\0` || undefined, 5000, 'the reported pid to be the command');
      expect((await d.request('DELETE', '/appmesh/app/launched-sleep', { token: user })).status).toBe(200);
    });
  });
}
