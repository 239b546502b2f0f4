import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { detectCgroups } from '../src/containment/cgroup-detect.js';
import { sharesToWeight, userFolderName } from '../src/containment/cgroups.js';
import { holdBackPrivilegedEnv, planLaunch } from '../src/containment/launcher.js';

const root = mkdtempSync(join(tmpdir(), 'appmesh-cgroup-layout-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake cgroup mount: a folder for the daemon's own cgroup, with the files detection reads. */
function folder(path: string, files: Record<string, string> = {}): string {
  const dir = join(root, path);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const line = (id: number, rootPath: string, mountPoint: string, fsType: string, superOptions: string, mountOptions = 'rw,nosuid') =>
  `${id} 1 0:${id} ${rootPath} ${mountPoint} ${mountOptions} shared:${id} - ${fsType} ${fsType} ${superOptions}`;

describe.runIf(process.platform === 'linux')('which cgroups are usable', () => {
  test('hybrid host whose cgroup2 mount offers only hugetlb: v1, at the daemon’s own cgroup of each controller', () => {
    const unified = folder('hybrid/unified', { 'cgroup.controllers': 'hugetlb\n' });
    const memory = folder('hybrid/memory');
    folder('hybrid/memory/box/42');
    const pids = folder('hybrid/pids');
    const cpu = folder('hybrid/cpu,cpuacct');
    const mountInfo = [
      line(30, '/', unified, 'cgroup2', 'rw'),
      line(31, '/', memory, 'cgroup', 'rw,memory'),
      line(32, '/', pids, 'cgroup', 'rw,pids'),
      line(33, '/', cpu, 'cgroup', 'rw,cpu,cpuacct'),
    ].join('\n');
    const selfCgroup = ['4:memory:/box/42', '8:pids:/', '2:cpu,cpuacct:/', '0::/'].join('\n');
    const detected = detectCgroups({ mountInfo, selfCgroup });
    expect(detected).toEqual({
      mode: 'v1',
      hierarchies: [
        { dir: join(memory, 'box/42'), controllers: ['memory'] },
        { dir: pids, controllers: ['pids'] },
        { dir: cpu, controllers: ['cpu'] },
      ],
    });
  });

  test('cgroup v2 with memory and pids: v2 at the daemon’s own cgroup; cpu when offered', () => {
    const mount = folder('v2');
    const own = folder('v2/system.slice/appmesh.service', { 'cgroup.controllers': 'cpuset cpu io memory pids\n' });
    const detected = detectCgroups({ mountInfo: line(30, '/', mount, 'cgroup2', 'rw,nsdelegate'), selfCgroup: '0::/system.slice/appmesh.service\n' });
    expect(detected).toEqual({ mode: 'v2', hierarchy: { dir: own, controllers: ['memory', 'pids', 'cpu'] } });
  });

  test('a container that mounts its own part of the hierarchy: the path is taken relative to the mount root', () => {
    const mount = folder('container', { 'cgroup.controllers': 'memory pids\n' });
    const detected = detectCgroups({ mountInfo: line(30, '/docker/abc', mount, 'cgroup2', 'rw'), selfCgroup: '0::/docker/abc\n' });
    expect(detected).toEqual({ mode: 'v2', hierarchy: { dir: mount, controllers: ['memory', 'pids'] } });
  });

  test('no usable controller: none, with the reason', () => {
    const mount = folder('bare', { 'cgroup.controllers': 'cpu io\n' });
    const detected = detectCgroups({ mountInfo: line(30, '/', mount, 'cgroup2', 'rw'), selfCgroup: '0::/\n' });
    expect(detected.mode).toBe('none');
    expect(detected.mode === 'none' && detected.reason).toMatch(/lacks memory, pids.*no writable cgroup v1 hierarchy for memory, pids/);
  });

  test('a read-only cgroup2 mount is not used', () => {
    const mount = folder('readonly', { 'cgroup.controllers': 'memory pids\n' });
    const detected = detectCgroups({ mountInfo: line(30, '/', mount, 'cgroup2', 'rw', 'ro,nosuid'), selfCgroup: '0::/\n' });
    expect(detected.mode === 'none' && detected.reason).toMatch(/read-only/);
  });
});

describe('cgroup names and weights', () => {
  test('owner folders cannot walk out of the tree nor meet another owner', () => {
    expect(userFolderName('alice')).toBe('user-alice');
    expect(userFolderName(undefined)).toBe('daemon');
    for (const hostile of ['..', '../x', 'a/b', '.hidden', 'x'.repeat(200), 'é']) {
      const name = userFolderName(hostile);
      expect(name).toMatch(/^user-%[0-9a-f]{24}$/);
    }
    expect(userFolderName('../x')).not.toBe(userFolderName('../y'));
  });

  test('cpu.shares maps onto cpu.weight across the whole range', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(262_144)).toBe(10_000);
    expect(sharesToWeight(1024)).toBeGreaterThan(sharesToWeight(512));
  });
});

describe('the launch plan', () => {
  const tools = { setpriv: '/usr/bin/setpriv', env: '/usr/bin/env' };

  test('paths and ids are arguments, never part of the script', () => {
    const plan = planLaunch({ argv: ['echo', '$(id)'], env: {}, user: { uid: 61200, gid: 61200 }, cgroupProcsFiles: ['/cg/a b/cgroup.procs'] }, tools);
    expect(plan.file).toBe('/bin/sh');
    const script = plan.args[1];
    expect(script).not.toContain('61200');
    expect(script).not.toContain('/cg/');
    expect(plan.args.slice(2)).toEqual(['appmesh-launch', '1', '/cg/a b/cgroup.procs', '/usr/bin/setpriv', '--reuid=61200', '--regid=61200', '--clear-groups', '--', 'echo', '$(id)']);
    expect(plan.placedBeforeExec).toBe(true);
  });

  test('variables that steer the loader or the shell are held back from the root part and given to the command after the drop', () => {
    const env = { PATH: '/usr/bin:/bin', LD_PRELOAD: '/tmp/x.so', 'BASH_FUNC_echo%%': '() { id; }', LANG: 'C.UTF-8', LC_ALL: '../../tmp/locale' };
    const { safe, held } = holdBackPrivilegedEnv(env);
    expect(safe).toEqual({ PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' });
    expect(Object.keys(held).sort()).toEqual(['BASH_FUNC_echo%%', 'LC_ALL', 'LD_PRELOAD']);
    const plan = planLaunch({ argv: ['true'], env, user: { uid: 1000, gid: 1000 }, cgroupProcsFiles: [] }, tools);
    expect(plan.env).toEqual(safe);
    const afterDrop = plan.args.slice(plan.args.indexOf('--clear-groups') + 2);
    expect(afterDrop).toEqual(['/usr/bin/env', '--', 'LD_PRELOAD=/tmp/x.so', 'BASH_FUNC_echo%%=() { id; }', 'LC_ALL=../../tmp/locale', 'true']);
  });

  test('without setpriv the launcher itself starts as the user and enters its cgroup after spawn', () => {
    const plan = planLaunch({ argv: ['true'], env: {}, user: { uid: 1000, gid: 1000 }, cgroupProcsFiles: ['/cg/cgroup.procs'], sandboxArgv: ['bwrap', '--'] }, {});
    expect(plan).toMatchObject({ uid: 1000, gid: 1000, placedBeforeExec: false });
    expect(plan.args.slice(2)).toEqual(['appmesh-launch', '0', 'bwrap', '--', 'true']);
  });

  test.runIf(process.platform === 'linux')('the launcher execs: the exit status is the command’s, stderr joins stdout', () => {
    const plan = planLaunch({ argv: ['sh', '-c', 'echo pid=$$; echo err >&2; exit 7'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cgroupProcsFiles: [] }, tools);
    let output = '';
    let status = 0;
    try {
      execFileSync(plan.file, plan.args, { env: plan.env, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (error) {
      output = String((error as { stdout: Buffer }).stdout);
      status = (error as { status: number }).status;
    }
    expect(status).toBe(7);
    expect(output).toMatch(/^pid=\d+\nerr\n$/);
  });
});
