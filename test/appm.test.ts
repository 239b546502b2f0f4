import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppmUser, finished, waitForOutput } from './helpers/appm-cli.js';
import { ADMIN_PASSWORD, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// `appm`, the built binary, as a person runs it: its own HOME, a real daemon, real users.
const PASSWORD = 'Cli-User-Password-1';
let d: TestDaemon;
let admin: AppmUser;
beforeAll(async () => {
  d = await startTestDaemon();
  admin = await AppmUser.create();
  const logon = await admin.run(['logon', '-H', d.url, '-U', 'admin', '-X', ADMIN_PASSWORD]);
  expect(logon.stderr).toBe('');
  expect(logon.code).toBe(0);
});
afterAll(async () => {
  await d?.stop();
  await admin?.remove();
});

const ok = async (user: AppmUser, args: string[], input = '') => {
  const result = await user.run(args, input);
  expect(result.stderr, `appm ${args.join(' ')}`).toBe('');
  expect(result.code, `appm ${args.join(' ')}`).toBe(0);
  return result.stdout;
};

async function newUser(name: string, roles: string[]): Promise<AppmUser> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, roles } })).status).toBe(200);
  return AppmUser.create();
}

describe('appm: session', () => {
  test('logon stores the host and a token in a 0600 file, never the password; later commands use it', async () => {
    const file = `${admin.env.XDG_CONFIG_HOME}/appmesh/session.json`;
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const content = await readFile(file, 'utf8');
    expect(content).not.toContain(ADMIN_PASSWORD);
    const stored = JSON.parse(content) as { current: string; sessions: Record<string, { user: string; token: string }> };
    expect(stored.current).toBe(d.url);
    expect(stored.sessions[d.url].user).toBe('admin');
    expect(await ok(admin, ['loginfo'])).toContain('user: admin');

    // A second logon replaces the stored token and revokes the one it replaces.
    const relogon = await AppmUser.create();
    await ok(relogon, ['logon', '-H', d.url, '-U', 'admin', '-X', ADMIN_PASSWORD]);
    const tokenOf = async () => (JSON.parse(await readFile(`${relogon.env.XDG_CONFIG_HOME}/appmesh/session.json`, 'utf8')) as { sessions: Record<string, { token: string }> }).sessions[d.url].token;
    const first = await tokenOf();
    await ok(relogon, ['logon', '-U', 'admin', '-X', ADMIN_PASSWORD]);
    expect(await tokenOf()).not.toBe(first);
    expect((await d.request('GET', '/appmesh/user/self', { token: first })).status).toBe(401);
    await ok(relogon, ['ls']);
    await relogon.remove();

    // Without XDG_CONFIG_HOME: XDG's default, ~/.config/appmesh (not the daemon's home, ~/.appmesh).
    const plain = await AppmUser.create();
    expect((await plain.run(['logon', '-H', d.url, '-U', 'admin', '-X', ADMIN_PASSWORD], '', { XDG_CONFIG_HOME: '' })).code).toBe(0);
    expect((await stat(`${plain.home}/.config/appmesh/session.json`)).mode & 0o777).toBe(0o600);
    await plain.remove();
  });

  test('errors say what to do, with documented exit codes', async () => {
    const viewer = await newUser('cli-viewer', ['view']);
    await ok(viewer, ['logon', '-H', d.url, '-U', 'cli-viewer', '-X', PASSWORD]);
    const denied = await viewer.run(['add', '-a', 'not-mine', '-c', 'true']);
    expect(denied.code).toBe(77);
    expect(denied.stderr).toContain("'app-reg'");
    const unreachable = await viewer.run(['-H', 'http://127.0.0.1:1', 'logon', '-U', 'cli-viewer', '-X', PASSWORD]);
    expect(unreachable.code).toBe(69);
    expect(unreachable.stderr).toContain('cannot reach http://127.0.0.1:1');
    expect(unreachable.stderr).toContain('-H');
    const elsewhere = await viewer.run(['-H', 'http://127.0.0.1:1', 'ls']);
    expect(elsewhere.code).toBe(80);
    expect(elsewhere.stderr).toContain("not logged on to http://127.0.0.1:1: run 'appm logon'");
    const verbose = await viewer.run(['ls', '-v']);
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/appmesh\/applications -> 200/);
    const usage = await viewer.run(['ls', '--no-such-option']);
    expect(usage.code).toBe(2);
    expect((await viewer.run(['no-such-command'])).code).toBe(2);
    const help = await viewer.run(['--help']);
    expect(help.stdout).toMatch(/Exit codes:[\s\S]*77[\s\S]*80/);
    await viewer.remove();
  });
});

describe('appm: apps', () => {
  test('add, ls (table and JSON), view, disable, enable, restart, rm', async () => {
    const added = await ok(admin, ['add', '-a', 'cli-app', '-c', 'sleep 600', '-d', 'from appm', '-e', 'A=1']);
    expect(added).toContain('name: cli-app');
    const tableText = await ok(admin, ['ls']);
    const [header, ...rows] = tableText.trimEnd().split('\n');
    expect(header.split(/\s+/)).toEqual(['ID', 'NAME', 'OWNER', 'STATUS', 'HEALTH', 'PID', 'USER', 'MEMORY', '%CPU', 'RETURN', 'AGE', 'DURATION', 'STARTS', 'COMMAND']);
    const line = rows.find((row) => row.split(/\s+/)[1] === 'cli-app')!;
    expect(line).toBeDefined();
    // Aligned: every column starts where its header does.
    expect(line.indexOf('admin')).toBe(header.indexOf('OWNER'));
    expect(line).toContain('"sleep 600"');

    const apps = JSON.parse(await ok(admin, ['ls', '--format', 'json'])) as { name: string; status: number; pid?: number }[];
    const app = await waitFor(async () => {
      const listed = (JSON.parse(await ok(admin, ['ls', '-j'])) as typeof apps).find((entry) => entry.name === 'cli-app');
      return listed?.pid ? listed : undefined;
    });
    expect(app.status).toBe(1);
    expect(await ok(admin, ['ls', '-a', 'cli-app'])).toMatch(/description: from appm/);
    expect(JSON.parse(await ok(admin, ['view', '-a', 'cli-app', '--format', 'json'])).env).toEqual({ A: '1' });

    await ok(admin, ['disable', '-a', 'cli-app']);
    expect(JSON.parse(await ok(admin, ['ls', '-a', 'cli-app', '-j'])).status).toBe(0);
    await ok(admin, ['enable', '-a', 'cli-app']);
    const before = await waitFor(async () => (JSON.parse(await ok(admin, ['ls', '-a', 'cli-app', '-j'])) as { pid?: number }).pid);
    await ok(admin, ['restart', '-a', 'cli-app']);
    const after = await waitFor(async () => {
      const pid = (JSON.parse(await ok(admin, ['ls', '-a', 'cli-app', '-j'])) as { pid?: number }).pid;
      return pid && pid !== before ? pid : undefined;
    });
    expect(after).not.toBe(before);

    // Replacing needs -f without a terminal to confirm on.
    expect((await admin.run(['add', '-a', 'cli-app', '-c', 'sleep 1'])).code).toBe(1);
    expect(await ok(admin, ['rm', '-a', 'cli-app', '-f'])).toContain('removed');
    expect((await admin.run(['ls', '-a', 'cli-app'])).code).toBe(1);
  });

  test('ls -a NAME -o shows the output; -f follows it live', async () => {
    await ok(admin, ['add', '-a', 'cli-ticker', '-u', '-c', 'i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.3; done']);
    await waitFor(async () => (await ok(admin, ['ls', '-a', 'cli-ticker', '-o'])).includes('tick1'));
    const follow = admin.spawn(['ls', '-a', 'cli-ticker', '-o', '-f']);
    const seen = await waitForOutput(follow, /tick1\n[\s\S]*tick8\n/);
    // Pushed by events after the output already there: every tick once, in order, none lost.
    const ticks = [...seen.matchAll(/tick(\d+)/g)].map((match) => Number(match[1]));
    expect(ticks).toEqual(ticks.map((_, index) => index + 1));
    follow.kill('SIGINT');
    expect((await finished(follow)).code).toBe(0);

    // Without -a, -f shows the list again and again until Ctrl-C.
    const watch = admin.spawn(['ls', '-f']);
    await waitForOutput(watch, /cli-ticker[\s\S]*\n\nID[\s\S]*cli-ticker/, 10_000);
    watch.kill('SIGINT');
    expect((await finished(watch)).code).toBe(0);
    await ok(admin, ['rm', '-a', 'cli-ticker', '-f']);
  });
});

describe('appm: run', () => {
  test('run streams output and exits with the remote exit code', async () => {
    const result = await admin.run(['run', '-u', '-c', 'echo one; sleep 0.3; echo two; exit 3']);
    expect(result.stdout).toBe('one\ntwo\n');
    expect(result.code).toBe(3);
    const exec = await admin.run(['exec', '-u', '--', 'echo', '$((20+1))']);
    expect(exec.stdout).toBe('21\n');
    expect(exec.code).toBe(0);
  });

  test('Ctrl-C stops the remote process tree', async () => {
    const child = admin.spawn(['run', '-u', '-c', 'sleep 300 & echo child=$!; sh -c "sleep 300 & echo grandchild=\\$!; wait" & wait']);
    const shown = await waitForOutput(child, /child=(\d+)[\s\S]*grandchild=(\d+)/);
    const pids = [...shown.matchAll(/child=(\d+)/g)].map((match) => Number(match[1]));
    expect(pids.length).toBe(2);
    for (const pid of pids) expect(await processAlive(pid)).toBe(true);
    child.kill('SIGINT');
    expect((await finished(child)).code).toBe(130);
    for (const pid of pids) await waitFor(async () => !(await processAlive(pid)), 10_000, `process ${pid} to be gone`);
  });

  test('shell keeps the working directory across lines', async () => {
    const result = await admin.run(['shell'], 'cd /tmp\npwd\ncd /\npwd\nexit\n');
    expect(result.stdout.split('\n').filter(Boolean)).toEqual(['/tmp', '/']);
  });
});

describe.runIf(process.platform === 'linux')('appm on a terminal', () => {
  test('put draws a progress bar with rate and ETA on a terminal', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const work = await mkdtemp(join(tmpdir(), 'appm-tty-'));
    await writeFile(join(work, 'data.bin'), Buffer.alloc(8 * 1024 * 1024, 7));
    // script(1) gives appm a pseudo-terminal, as a person's shell would.
    const { spawn } = await import('node:child_process');
    const child = spawn('script', ['-qec', `appm put -l ${join(work, 'data.bin')} -r ${join(work, 'up.bin')}`, '/dev/null'], { env: admin.env });
    child.stdin.end();
    const shown = await finished(child);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/put .*data\.bin \[#+\.*\]\s+\d+%.*\/s/);
    expect(shown.stdout).toMatch(/100%/);
    expect(shown.stdout).toContain('Success');
  });
});

describe('appm: completion', () => {
  test('bash and zsh scripts; app names come from the server', async () => {
    await ok(admin, ['add', '-a', 'cli-complete-me', '-c', 'sleep 60']);
    expect(await ok(admin, ['completion', 'bash'])).toContain('complete -F _appm appm');
    expect(await ok(admin, ['completion', 'zsh'])).toContain('#compdef appm');
    const { spawn } = await import('node:child_process');
    // The completion function, as bash calls it on Tab, with the words typed so far.
    const bash = async (words: string) => {
      const child = spawn('bash', ['-c', `source <(appm completion bash); COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _appm; printf '%s\\n' "\${COMPREPLY[@]}"`], { env: admin.env });
      child.stdin.end();
      return (await finished(child)).stdout;
    };
    expect((await bash('appm ls -a cli-comp')).trim()).toBe('cli-complete-me');
    expect((await bash('appm lo')).split('\n')).toEqual(expect.arrayContaining(['logon', 'logoff', 'loginfo', 'log']));
    expect((await bash('appm run --work')).trim()).toBe('--working-dir');
    await ok(admin, ['rm', '-a', 'cli-complete-me', '-f']);
  });
});
