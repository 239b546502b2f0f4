import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { login, newHome, processAlive, waitFor } from './helpers/test-daemon.js';
import { freePort } from './helpers/free-port.js';

// The daemon as a service manager runs it: the built entry points in their own processes (`npm test` builds first).
const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'dist', 'src', 'main.js');
const STDIO = join(ROOT, 'dist', 'tools', 'stdio.js');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const PASSWORD = 'Given-Password-9';


/** The environment of this test run without any APPMESH_ setting, plus the given ones. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('APPMESH_') && !name.startsWith('npm_')));
  return { ...env, APPMESH_MQTT_EmbeddedBrokerPort: '0', ...extra };
}

interface Started {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
const folders: string[] = [];

function launch(command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Omit<Started, 'url'> {
  const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function ready(url: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await fetch(`${url}/appmesh/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined))?.status === 200, timeoutMs, `the daemon on ${url}`);
}

async function startDaemonProcess(home: string, env: Record<string, string> = {}, args: string[] = []): Promise<Started> {
  const port = await freePort();
  const started = launch(process.execPath, [MAIN, ...args], cleanEnv({ APPMESH_HOME: home, APPMESH_REST_RestListenPort: String(port), APPMESH_ADMIN_PASSWORD: PASSWORD, ...env }));
  const url = `http://127.0.0.1:${port}`;
  await ready(url);
  return { ...started, url };
}

async function exitWithin(started: { child: ChildProcess; exited: Promise<number | null> }, ms: number): Promise<number | null | 'running'> {
  return Promise.race([started.exited, new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), ms))]);
}

/** CPU time (user + system, in clock ticks) a process has used so far. */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Every process below `pid`, found through the parent pids in /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parents) if (ppid === parent) (found.push(child), queue.push(child));
  }
  return found;
}

async function addTreeApp(url: string, command = 'sleep 300 & echo $!; wait'): Promise<{ pid: number; grandchild: number }> {
  const token = await login(url, 'admin', PASSWORD);
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  const put = await fetch(`${url}/appmesh/app/tree`, { method: 'PUT', headers, body: JSON.stringify({ command, shell: true }) });
  expect(put.status).toBe(200);
  const grandchild = await waitFor(async () => Number((await (await fetch(`${url}/appmesh/app/tree/output`, { headers })).text()).trim()) || undefined, 10_000, 'the child pid');
  const pid = ((await (await fetch(`${url}/appmesh/app/tree`, { headers })).json()) as { pid: number }).pid;
  return { pid, grandchild };
}

async function newFolder(): Promise<string> {
  const folder = await newHome();
  folders.push(folder);
  return folder;
}

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

describe('command line', () => {
  test('--help prints the usage and creates nothing; --version prints the version; an unknown flag exits 2', async () => {
    const scratch = await newFolder();
    const env = cleanEnv({ HOME: scratch, APPMESH_HOME: join(scratch, 'home'), APPMESH_REST_RestListenPort: String(await freePort()) });
    const run = (file: string, ...args: string[]) => spawnSync(process.execPath, [file, ...args], { env, encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });

    const help = run(MAIN, '--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/Usage: appmesh-ts/);
    expect(help.stdout).toContain('--home');
    expect(help.stdout).toContain('--config');
    const version = run(MAIN, '--version');
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(`appmesh-ts ${VERSION}`);
    const unknown = run(MAIN, '--bogus');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--bogus/);
    expect(unknown.stderr).toMatch(/Usage: appmesh-ts/);
    expect(run(MAIN, '--home').status).toBe(2);
    const missingConfig = run(MAIN, '--config', join(scratch, 'absent.yaml'));
    expect(missingConfig.status).toBe(2);
    expect(missingConfig.stderr).toContain('absent.yaml');

    const mcpHelp = run(STDIO, '--help');
    expect(mcpHelp.status).toBe(0);
    expect(mcpHelp.stdout).toMatch(/Usage: appmesh-mcp/);
    expect(run(STDIO, '--version').stdout.trim()).toBe(`appmesh-mcp ${VERSION}`);
    expect(run(STDIO, '--nope').status).toBe(2);
    // Nothing was created: neither the home nor ~/.appmesh.
    expect(readdirSync(scratch)).toEqual([]);
  });

  test('--home and --config choose the home and the configuration file', async () => {
    const scratch = await newFolder();
    const home = join(scratch, 'given-home');
    const config = join(scratch, 'service.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(config, 'BaseConfig:\n  Description: from-the-given-file\n');
    const port = await freePort();
    const started = launch(process.execPath, [MAIN, '--home', home, `--config=${config}`], cleanEnv({ APPMESH_REST_RestListenPort: String(port), APPMESH_ADMIN_PASSWORD: PASSWORD, HOME: scratch }));
    const url = `http://127.0.0.1:${port}`;
    await ready(url);
    const token = await login(url, 'admin', PASSWORD);
    const current = (await (await fetch(`${url}/appmesh/config`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { BaseConfig: { Description: string } };
    expect(current.BaseConfig.Description).toBe('from-the-given-file');
    expect(existsSync(join(home, 'appmesh.pid'))).toBe(true);
    // The secret generated at the first start is kept in the given file, not in the home.
    expect(await readFile(config, 'utf8')).toMatch(/JWTSalt: \S{32,}/);
    expect(existsSync(join(home, 'config', 'config.yaml'))).toBe(false);
    started.child.kill('SIGTERM');
    expect(await exitWithin(started, 10_000)).toBe(0);
  });
});

describe('as a service', () => {
  test('closed stdout and stderr: the daemon keeps serving at rest, logs to its home, and stops on SIGTERM', async () => {
    const home = await newFolder();
    const started = await startDaemonProcess(home);
    const pid = started.child.pid!;
    // The reader goes away (`| head -1`, a closed terminal): every later write gets EPIPE.
    started.child.stdout!.destroy();
    started.child.stderr!.destroy();
    started.child.kill('SIGHUP'); // logs a line
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = cpuTicks(pid);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(cpuTicks(pid) - before).toBeLessThan(30); // under 0.3 s of CPU in 1 s: idle, not spinning
    const answer = await fetch(`${started.url}/appmesh/readyz`, { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
    expect(answer?.status).toBe(200);
    await login(started.url, 'admin', PASSWORD);
    started.child.kill('SIGHUP');
    // With the console gone, the lines go on in the home's log file.
    await waitFor(() => existsSync(join(home, 'appmesh.log')) && readFileSync(join(home, 'appmesh.log'), 'utf8').includes('configuration reloaded'), 5_000, 'the fallback log file');
    started.child.kill('SIGTERM');
    expect(await exitWithin(started, 5_000)).toBe(0);
  });

  test('a stdout nobody reads: the daemon starts, serves and stops all the same (its lines wait in a bounded queue or are dropped)', async () => {
    const home = await newFolder();
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(join(home, 'apps'), { recursive: true, mode: 0o700 });
    // Each unreadable stored application is one log line at start: far more than a pipe holds.
    await Promise.all(Array.from({ length: 3000 }, (_, index) => writeFile(join(home, 'apps', `broken-${index}.yaml`), 'command: [unclosed\n')));
    // stdout is a real pipe (the shell's) whose reader never reads: once its 64 KiB are full, a blocking write would wait for ever.
    const port = await freePort();
    const env = cleanEnv({ APPMESH_HOME: home, APPMESH_REST_RestListenPort: String(port), APPMESH_ADMIN_PASSWORD: PASSWORD, MAIN });
    const shell = spawn('sh', ['-c', '"$0" "$MAIN" | sleep 120', process.execPath], { env, stdio: 'ignore' });
    children.push(shell);
    const url = `http://127.0.0.1:${port}`;
    const pid = await waitFor(() => descendants(shell.pid!).find((candidate) => readFileSync(`/proc/${candidate}/cmdline`, 'utf8').includes('main.js')), 5_000, 'the daemon process');
    const sleepers = descendants(shell.pid!).filter((candidate) => candidate !== pid);
    await ready(url, 20_000);
    await login(url, 'admin', PASSWORD);
    process.kill(pid, 'SIGTERM');
    await waitFor(async () => !(await processAlive(pid)), 5_000, 'the daemon to exit');
    for (const other of sleepers) process.kill(other, 'SIGKILL');
  });

  test('one daemon per home: a second one refuses, naming the home and the pid; a killed holder frees it', async () => {
    const home = await newFolder();
    const first = await startDaemonProcess(home);
    const pid = first.child.pid!;
    expect(readFileSync(join(home, 'appmesh.pid'), 'utf8').trim()).toBe(String(pid));

    const second = launch(process.execPath, [MAIN], cleanEnv({ APPMESH_HOME: home, APPMESH_REST_RestListenPort: String(await freePort()) }));
    expect(await exitWithin(second, 10_000)).toBe(1);
    expect(second.output()).toContain(home);
    expect(second.output()).toContain(`pid ${pid}`);
    // The MCP stdio server is a daemon on its home as well.
    const stdio = launch(process.execPath, [STDIO], cleanEnv({ APPMESH_HOME: home, APPMESH_PASSWORD: PASSWORD }));
    expect(await exitWithin(stdio, 10_000)).toBe(1);
    expect(stdio.output()).toContain(`pid ${pid}`);
    // The first one is untouched.
    expect((await fetch(`${first.url}/appmesh/readyz`)).status).toBe(200);
    expect(readFileSync(join(home, 'appmesh.pid'), 'utf8').trim()).toBe(String(pid));

    // A holder killed outright leaves no stale lock behind.
    first.child.kill('SIGKILL');
    await first.exited;
    const third = await startDaemonProcess(home);
    expect(readFileSync(join(home, 'appmesh.pid'), 'utf8').trim()).toBe(String(third.child.pid));
    third.child.kill('SIGTERM');
    expect(await exitWithin(third, 10_000)).toBe(0);
    expect(existsSync(join(home, 'appmesh.pid'))).toBe(false);
  });

  test('SIGTERM stops applications that ignore it within Limits.KillGraceSeconds, then the daemon exits', async () => {
    const home = await newFolder();
    const started = await startDaemonProcess(home, { APPMESH_Limits_KillGraceSeconds: '1' });
    const { pid, grandchild } = await addTreeApp(started.url, "trap '' TERM; sleep 300 & echo $!; wait");
    const begin = Date.now();
    started.child.kill('SIGTERM');
    expect(await exitWithin(started, 6_000)).toBe(0);
    expect(Date.now() - begin).toBeGreaterThanOrEqual(900);
    expect(await processAlive(pid)).toBe(false);
    expect(await processAlive(grandchild)).toBe(false);
  });

  test('a second signal a moment after the first forces the exit, killing the applications', async () => {
    const home = await newFolder();
    const started = await startDaemonProcess(home, { APPMESH_Limits_KillGraceSeconds: '30' });
    const { pid, grandchild } = await addTreeApp(started.url, "trap '' TERM; sleep 300 & echo $!; wait");
    started.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(started.child.exitCode).toBe(null);
    started.child.kill('SIGTERM');
    expect(await exitWithin(started, 3_000)).toBe(1);
    expect(existsSync(join(home, 'appmesh.pid'))).toBe(false);
    // Forced does not mean abandoned: the applications are killed, not left behind.
    await waitFor(async () => !(await processAlive(pid)) && !(await processAlive(grandchild)), 3_000, 'the applications to be killed');
  });

  test('SIGTERM to `npm start` stops the daemon and its applications', async () => {
    const home = await newFolder();
    const port = await freePort();
    const npm = launch('npm', ['start', '--silent'], cleanEnv({ APPMESH_HOME: home, APPMESH_REST_RestListenPort: String(port), APPMESH_ADMIN_PASSWORD: PASSWORD }));
    const url = `http://127.0.0.1:${port}`;
    // A stale build is rebuilt first (a fresh checkout's `npm test` has just built).
    await ready(url, 45_000);
    const { pid, grandchild } = await addTreeApp(url);
    const below = descendants(npm.child.pid!);
    expect(below).toContain(pid);
    npm.child.kill('SIGTERM');
    expect(await exitWithin(npm, 10_000)).not.toBe('running');
    await waitFor(async () => !(await processAlive(grandchild)), 5_000, 'the application to stop');
    const alive = (await Promise.all(below.map(async (process) => ((await processAlive(process)) ? process : 0)))).filter(Boolean);
    expect(alive).toEqual([]);
  });
});
