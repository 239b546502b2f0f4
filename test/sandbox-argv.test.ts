import { spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { planLaunch } from '../src/containment/launcher.js';
import { sandboxArgv, sandboxSupport, type SandboxOptions } from '../src/containment/sandbox.js';

/**
 * The sandbox profile itself, run as the launcher would: bubblewrap started by an unprivileged
 * uid (`nobody` when the tests run as root), the command after the prefix.
 */

const support = sandboxSupport();
const asRoot = process.getuid?.() === 0;
const NOBODY = 65_534;

interface Outcome {
  code: number | null;
  output: string;
}

function runSandboxed(options: SandboxOptions, script: string): Promise<Outcome> {
  const [file, ...args] = sandboxArgv(options);
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args, 'bash', '-c', script], {
      cwd: '/',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', MARKER: 'kept' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('sandboxArgv: the flags', () => {
  test('read-only root, private /proc, /dev and /tmp, no network, the working directory bound and entered last', () => {
    const argv = sandboxArgv({ workingDir: '/srv/work/', network: false, hiddenDirs: ['/var/lib/appmesh'], writableDirs: ['/home/bob'] });
    expect(argv[0]).toBe('/usr/bin/bwrap');
    expect(argv.at(-1)).toBe('--');
    const text = argv.join(' ');
    for (const flag of ['--ro-bind / /', '--dev /dev', '--unshare-pid --proc /proc', '--tmpfs /tmp', '--unshare-net', '--tmpfs /run', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--unshare-user --disable-userns', '--die-with-parent', '--new-session', '--chdir /srv/work --']) {
      expect(text).toContain(flag);
    }
    // The daemon's home is hidden before the binds, so a working folder inside it stays reachable.
    expect(text.indexOf('--tmpfs /var/lib/appmesh')).toBeLessThan(text.indexOf('--bind /srv/work /srv/work'));
    expect(text).toContain('--bind /home/bob /home/bob');
  });

  test('an older bubblewrap runs without --disable-userns when told', () => {
    expect(sandboxArgv({ workingDir: '/srv', network: false, blockNestedUserns: false }).join(' ')).not.toContain('userns');
  });

  test('network on keeps the host network and /run', () => {
    const text = sandboxArgv({ workingDir: '/srv', network: true }).join(' ');
    expect(text).not.toContain('--unshare-net');
    expect(text).not.toContain('/run');
  });

  test('never binds / or a private mount point back, and hides nothing already private', () => {
    const argv = sandboxArgv({ workingDir: '/tmp', network: false, writableDirs: ['/', '/proc', '/run'], hiddenDirs: ['/tmp/appmesh-home'] });
    expect(argv.filter((arg) => arg === '--bind')).toHaveLength(0);
    expect(argv.join(' ')).not.toContain('appmesh-home');
    expect(argv.join(' ')).toContain('--chdir /tmp --');
  });

  test('a hidden folder inside another hidden folder gets no mount of its own', () => {
    const argv = sandboxArgv({ workingDir: '/srv', network: true, hiddenDirs: ['/var/lib/appmesh', '/var/lib/appmesh/work', '/srv/appmesh-work'] });
    expect(argv.filter((arg) => arg.startsWith('/var/lib/appmesh') || arg === '/srv/appmesh-work')).toEqual(['/var/lib/appmesh', '/srv/appmesh-work']);
  });

  test('a working directory that is not writable is a read-only view, still reachable under the private /tmp', () => {
    const argv = sandboxArgv({ workingDir: '/tmp/shared', workingDirWritable: false, network: false });
    expect(argv).not.toContain('--bind');
    expect(argv.join(' ')).toContain('--tmpfs /tmp');
    expect(argv.join(' ')).toContain('--ro-bind /tmp/shared /tmp/shared');
    expect(argv.join(' ')).toContain('--chdir /tmp/shared --');
  });

  test('the launcher gives the user\'s loader variables to the command inside the sandbox, never to bubblewrap', () => {
    const prefix = sandboxArgv({ workingDir: '/srv', network: false });
    const env = { PATH: '/usr/bin:/bin', LD_PRELOAD: '/home/u/x.so', GLIBC_TUNABLES: 'x' };
    const tools = { setpriv: '/usr/bin/setpriv', env: '/usr/bin/env' };
    for (const plan of [
      planLaunch({ argv: ['true'], env, user: { uid: 1000, gid: 1000 }, cgroupProcsFiles: [], sandboxArgv: prefix }, tools),
      planLaunch({ argv: ['true'], env, user: { uid: 1000, gid: 1000 }, cgroupProcsFiles: [], sandboxArgv: prefix }, { env: tools.env }),
      planLaunch({ argv: ['true'], env, cgroupProcsFiles: [], sandboxArgv: prefix }, tools),
    ]) {
      expect(plan.env.LD_PRELOAD).toBeUndefined();
      expect(plan.env.GLIBC_TUNABLES).toBeUndefined();
      expect(plan.args.indexOf('LD_PRELOAD=/home/u/x.so')).toBeGreaterThan(plan.args.indexOf(prefix[0]));
      expect(plan.args.indexOf('LD_PRELOAD=/home/u/x.so')).toBeLessThan(plan.args.lastIndexOf('true'));
    }
  });

  test('a relative path is refused', () => {
    expect(() => sandboxArgv({ workingDir: 'work', network: false })).toThrow(/absolute/);
  });

  test('a missing binary is reported, not pretended', () => {
    const missing = sandboxSupport('/nonexistent/bwrap');
    expect(missing.available).toBe(false);
    expect(missing.reason).toMatch(/not installed/);
  });
});

describe.runIf(support.available)(`sandboxArgv run as an unprivileged uid (${support.reason ?? support.version})`, () => {
  let work: string;
  let foreign: string;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    work = await mkdtemp('/var/tmp/appmesh-sandbox-work-');
    if (asRoot) await chown(work, NOBODY, NOBODY);
    // World-writable and someone else's: only the sandbox stops a write here.
    foreign = await mkdtemp('/var/tmp/appmesh-sandbox-foreign-');
    await chmod(foreign, 0o777);
    server = createServer((socket) => socket.end('hello\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.close();
    await rm(work, { recursive: true, force: true });
    await rm(foreign, { recursive: true, force: true });
  });

  test('sees only its own processes', async () => {
    const { code, output } = await runSandboxed({ workingDir: work, network: false }, 'ls /proc | grep -E "^[0-9]+$" | wc -l; ps -e -o pid= | wc -l');
    expect(code).toBe(0);
    const [entries, processes] = output.trim().split('\n').map(Number);
    expect(entries).toBeLessThan(8);
    expect(processes).toBeLessThan(8);
  });

  test('writes only in its working directory; the file is there afterwards', async () => {
    const script = `touch /usr/x 2>/dev/null && echo usr; touch /root/x 2>/dev/null && echo root; touch ${foreign}/x 2>/dev/null && echo foreign; echo made > ${work}/made && echo work`;
    const { code, output } = await runSandboxed({ workingDir: work, network: false }, script);
    expect(code).toBe(0);
    expect(output.trim()).toBe('work');
    expect((await stat(join(work, 'made'))).isFile()).toBe(true);
    expect(await readdir(foreign)).toEqual([]);
  });

  test('has an empty private /tmp', async () => {
    const planted = join('/tmp', `appmesh-sandbox-planted-${process.pid}`);
    const leaked = `/tmp/appmesh-sandbox-leaked-${process.pid}`;
    await writeFile(planted, 'secret');
    try {
      const { code, output } = await runSandboxed({ workingDir: work, network: false }, `ls -A /tmp | wc -l; echo x > ${leaked} && echo wrote`);
      expect(code).toBe(0);
      expect(output.trim().split('\n')).toEqual(['0', 'wrote']);
      await expect(stat(leaked)).rejects.toThrow();
    } finally {
      await rm(planted, { force: true });
    }
  });

  test('no network when off, the host network when on; the environment is kept', async () => {
    const connect = `(exec 3<>/dev/tcp/127.0.0.1/${port} && head -1 <&3) 2>/dev/null || echo refused; echo $MARKER`;
    const off = await runSandboxed({ workingDir: work, network: false }, connect);
    expect(off.output.trim().split('\n')).toEqual(['refused', 'kept']);
    const on = await runSandboxed({ workingDir: work, network: true }, connect);
    expect(on.output.trim().split('\n')).toEqual(['hello', 'kept']);
  });

  test('a hidden folder is empty inside', async () => {
    const hidden = await mkdtemp('/var/tmp/appmesh-sandbox-hidden-');
    await writeFile(join(hidden, 'secret'), 'x');
    await chmod(hidden, 0o755);
    try {
      const { output } = await runSandboxed({ workingDir: work, network: false, hiddenDirs: [hidden] }, `ls -A ${hidden} | wc -l`);
      expect(output.trim()).toBe('0');
    } finally {
      await rm(hidden, { recursive: true, force: true });
    }
  });
});
