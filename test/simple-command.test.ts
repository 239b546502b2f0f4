import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { lookupOsUser, runningAsRoot } from '../src/auth/os-user.js';
import { directStartOf } from '../src/supervisor/process/simple-command.js';
import { ok, mcpClient } from './helpers/mcp-client.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * A shell command that is only a program and plain words starts without bash, and nothing a
 * program or its caller can see differs from the run through bash: output, exit code, argv and
 * the environment bash would have made. Anything else still goes through bash.
 */
let d: TestDaemon;
const root = mkdtempSync(join(tmpdir(), 'appmesh-simple-'));
const bin = join(root, 'bin');
const noting = join(root, 'noting');
const work = join(root, 'work');
const linked = join(root, 'linked');
const bashLog = join(root, 'bash-starts.log');
const PATH = `${bin}:/usr/local/bin:/usr/bin:/bin`;
const NOTING_PATH = `${noting}:${PATH}`;

beforeAll(async () => {
  mkdirSync(bin);
  mkdirSync(noting);
  mkdirSync(work);
  symlinkSync(work, linked);
  writeFileSync(join(work, 'a.txt'), 'a\n');
  writeFileSync(join(work, 'b.txt'), 'b\n');
  // A bash that notes each start: a run finds bash in its PATH (this folder first, where given).
  const bash = join(noting, 'bash');
  writeFileSync(bash, `#!/bin/sh\necho "$*" >> ${bashLog}\nexec /bin/bash "$@"\n`);
  const script = join(bin, 'appmesh-args');
  writeFileSync(script, '#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done; echo\n');
  // No #! line: bash runs it as a bash script (the kernel cannot execute it).
  const bare = join(bin, 'appmesh-bare');
  writeFileSync(bare, 'echo "${BASH_VERSION:+bash}:$0"\n');
  // An interpreter that is not there: bash's own message.
  const broken = join(bin, 'appmesh-broken');
  writeFileSync(broken, '#!/nonexistent/interpreter\n');
  for (const file of [bash, script, bare, broken]) chmodSync(file, 0o755);
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Outcome {
  status: number;
  exitCode: string | null;
  text: string;
}

/** The daemon `syncrun` uses. */
let current: () => TestDaemon = () => d;

async function syncrun(command: string, options: { env?: Record<string, string>; working_dir?: string; token?: string; sandbox?: string } = {}): Promise<Outcome> {
  const body = { command, shell: true, working_dir: options.working_dir ?? work, env: { PATH, ...options.env }, ...(options.sandbox ? { sandbox: options.sandbox } : {}) };
  const response = await current().request('POST', '/appmesh/app/syncrun', { body, token: options.token });
  return { status: response.status, exitCode: response.headers.get('x-exit-code'), text: await response.text() };
}

const bashStarts = () => readFileSync(bashLog, { encoding: 'utf8', flag: 'a+' }).split('\n').filter(Boolean).length;

/** What a program sees of its environment, less what differs between any two runs. */
const environmentOf = (text: string) =>
  text
    .split('\0')
    .filter((entry) => entry && !/^APP_MESH_(PROCESS_KEY|LAUNCH_TIME|APPLICATION_NAME)=/.test(entry))
    .sort();

// With the native launcher, and with the shell script that stands in for it where it was not built.
describe.each(['native', 'sh'])('a program and plain words (%s launcher)', (launcher) => {
  let own: TestDaemon | undefined;
  beforeAll(async () => {
    if (launcher === 'sh') own = await startTestDaemon({ env: { APPMESH_LAUNCHER: 'sh' } });
    current = () => own ?? d;
  });
  afterAll(async () => {
    current = () => d;
    await own?.stop();
  });

  test('start without bash', async () => {
    const before = bashStarts();
    const env = { PATH: NOTING_PATH };
    expect(await syncrun('true', { env })).toMatchObject({ status: 200, exitCode: '0' });
    expect(await syncrun('ls -d /tmp', { env })).toMatchObject({ exitCode: '0', text: '/tmp\n' });
    expect(bashStarts()).toBe(before);
    // Shell syntax still starts bash (the noting bash works).
    expect(await syncrun('ls -d /tmp;', { env })).toMatchObject({ exitCode: '0', text: '/tmp\n' });
    expect(bashStarts()).toBe(before + 1);
  });

  test('give the same output, exit code and argv as through bash', async () => {
    // A trailing `;` is shell syntax that changes nothing: that run goes through bash.
    const commands = [
      'true', 'false', 'ls -d /tmp', 'ls /no-such-folder-here', 'uname -s', 'expr 1 + 2', 'expr 1 / 0', 'cat /proc/self/cmdline',
      'appmesh-args a b=c d,e:f@g%h -i --j=k', ` \tappmesh-args   spaced\tout  `, `${bin}/appmesh-args absolute`, './a.txt',
      'appmesh-bare', 'appmesh-broken', 'no-such-program-here', 'true --help', 'echo -e x', 'pwd', 'ls', 'cat a.txt b.txt',
      // bash passes the environment on in an order of its own: what prints it goes through bash too.
      ...['env', 'printenv', '/usr/bin/env'].map((program) => `${program} -u APP_MESH_PROCESS_KEY -u APP_MESH_APPLICATION_NAME -u APP_MESH_LAUNCH_TIME`),
    ];
    for (const command of commands) {
      const direct = await syncrun(command);
      const viaBash = await syncrun(`${command};`);
      expect({ command, ...direct }).toEqual({ command, ...viaBash });
    }
  });

  test('see the environment bash would give them: PWD, SHLVL, _ and OLDPWD', async () => {
    const cases: { env?: Record<string, string>; working_dir?: string }[] = [
      {},
      { working_dir: linked },
      { working_dir: `${linked}/` },
      { env: { PWD: linked }, working_dir: work },
      { env: { PWD: '/nonexistent' } },
      { env: { PWD: 'relative' } },
      { env: { SHLVL: '4', OLDPWD: '/tmp' } },
      { env: { SHLVL: '07', OLDPWD: '/nonexistent' } },
      { env: { SHLVL: 'x', OLDPWD: '' } },
      { env: { SHLVL: '-3' } },
      { env: { SHLVL: '998' } },
      { env: { SHLVL: '999' } },
      { env: { LC_ALL: 'xx_YY' } },
      { env: { 'odd-name': '1' } },
    ];
    for (const options of cases) {
      // Each case but those bash would warn about, and a name no shell takes, starts without bash.
      const spec = { command: 'cat /proc/self/environ', shell: true, workingDir: options.working_dir ?? work, env: { ...process.env, PATH, ...options.env } as Record<string, string> };
      const viaBashOnly = ['999', 'xx_YY'].includes(options.env?.SHLVL ?? options.env?.LC_ALL ?? '') || 'odd-name' in (options.env ?? {});
      expect({ options, direct: directStartOf(spec) !== undefined }).toEqual({ options, direct: !viaBashOnly });
      const direct = await syncrun('cat /proc/self/environ', options);
      const viaBash = await syncrun('cat /proc/self/environ;', options);
      expect(direct.exitCode).toBe('0');
      expect({ options, environment: environmentOf(direct.text) }).toEqual({ options, environment: environmentOf(viaBash.text) });
    }
  });
});

describe('shell syntax and shell words still go through bash', () => {
  test('builtins, expansions, globs, assignments, quotes and a missing program', async () => {
    expect(await syncrun('cd /tmp')).toMatchObject({ exitCode: '0', text: '' });
    expect(await syncrun('exit 3')).toMatchObject({ exitCode: '3', text: '' });
    expect((await syncrun('echo $HOME')).text).toBe(`${process.env.HOME ?? ''}\n`);
    expect((await syncrun('ls *.txt')).text).toBe('a.txt\nb.txt\n');
    expect((await syncrun('a=b env')).text.split('\n')).toContain('a=b');
    expect((await syncrun(`appmesh-args "a b" 'c d' e\\ f`)).text).toBe('[a b][c d][e f]\n');
    expect((await syncrun('appmesh-args ~ {x,y}')).text).toBe(`[${process.env.HOME ?? ''}][x][y]\n`);
    expect(await syncrun('no-such-program-here')).toMatchObject({ exitCode: '127', text: 'bash: line 1: no-such-program-here: command not found\n' });
    expect(await syncrun('appmesh-bare')).toMatchObject({ exitCode: '0', text: `bash:${bin}/appmesh-bare\n` });
  });

  test('variables that change what bash does at its start are honoured', async () => {
    const startup = join(root, 'startup.sh');
    writeFileSync(startup, 'echo from-startup\n');
    expect((await syncrun('true', { env: { BASH_ENV: startup } })).text).toBe('from-startup\n');
    expect((await syncrun('true', { env: { SHELLOPTS: 'xtrace' } })).text).toMatch(/\+ true\n$/);
  });
});

describe('other faces and identities', () => {
  test('MCP run_command runs a plain command without bash, with its output', async () => {
    const client = await mcpClient(d.url, d.token);
    try {
      const before = bashStarts();
      const result = await ok<{ exit_code: number; output: string }>(client, 'run_command', { command: 'appmesh-args mcp', env: { PATH: NOTING_PATH }, working_dir: work });
      expect(result).toMatchObject({ exit_code: 0, output: '[mcp]\n' });
      expect(bashStarts()).toBe(before);
      const interactive = await ok<{ exit_code: number; output: string }>(client, 'run_command', { command: 'cat', stdin: 'typed\n', env: { PATH }, working_dir: work });
      expect(interactive).toMatchObject({ exit_code: 0, output: 'typed\n' });
    } finally {
      await client.close();
    }
  });

  const nobody = lookupOsUser('nobody');
  test.runIf(runningAsRoot() && nobody)("a user's run as its own OS account goes through bash, with that account's rights", async () => {
    await d.request('PUT', '/appmesh/user/simple-user', { body: { key: 'Simple-Password-1', group: 's', exec_user: 'nobody', roles: ['shell', 'view'] } });
    const token = await login(d.url, 'simple-user', 'Simple-Password-1');
    const run = (command: string) => d.request('POST', '/appmesh/app/syncrun', { token, body: { command, shell: true } });
    const response = await run('id -u');
    expect(response.status).toBe(200);
    expect((await response.text()).trim()).toBe(String(nobody!.uid));
    const missing = await run('no-such-program-here');
    expect(missing.headers.get('x-exit-code')).toBe('127');
    expect(await missing.text()).toBe('bash: line 1: no-such-program-here: command not found\n');
  });
});
