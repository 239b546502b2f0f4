import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterEach, describe, expect, test } from 'vitest';
import { login, newHome, processAlive, waitFor } from './helpers/test-daemon.js';
import { freePort } from './helpers/free-port.js';

// The daemon as a user starts it: the built entry point in its own process (`npm test` builds first).
const MAIN = join(import.meta.dirname, '..', 'dist', 'src', 'main.js');


interface Started {
  child: ChildProcess;
  url: string;
  stdout: () => string;
}

const children: ChildProcess[] = [];
const homes: string[] = [];

async function startProcess(home: string, env: Record<string, string> = {}): Promise<Started> {
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = { ...process.env, APPMESH_HOME: home, APPMESH_REST_RestListenPort: String(port), APPMESH_MQTT_EmbeddedBrokerPort: '0', ...env };
  delete childEnv.APPMESH_ADMIN_PASSWORD;
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, [MAIN], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/appmesh/readyz`).catch(() => undefined))?.status === 200, 20_000, `the daemon on ${url}`);
  return { child, url, stdout: () => output };
}

async function stopProcess(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => stopProcess(child)));
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
});

describe('the daemon process', () => {
  test('first start: random admin password printed once and stored 0600, random JWT secret stored 0600', async () => {
    const home = await newHome();
    homes.push(home);
    expect(MAIN && existsSync(MAIN)).toBe(true);
    const first = await startProcess(home);
    const passwordFile = join(home, 'initial-admin-password');
    const password = (await readFile(passwordFile, 'utf8')).trim();
    expect(password.length).toBeGreaterThanOrEqual(20);
    expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);
    expect(first.stdout()).toContain(password);
    await login(first.url, 'admin', password);

    const configFile = join(home, 'config', 'config.yaml');
    expect((await stat(configFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, 'config', 'security.yaml'))).mode & 0o777).toBe(0o600);
    const salt = (parse(await readFile(configFile, 'utf8')) as { REST: { JWT: { JWTSalt: string } } }).REST.JWT.JWTSalt;
    expect(salt.length).toBeGreaterThanOrEqual(32);
    const security = await readFile(join(home, 'config', 'security.yaml'), 'utf8');
    expect(security).not.toContain(password);
    expect(security).toMatch(/\$pbkdf2\$100000\$/);

    // Second start: the same secret and password, nothing printed again.
    expect(await stopProcess(first.child)).toBe(0);
    const second = await startProcess(home);
    expect(second.stdout()).not.toContain(password);
    await login(second.url, 'admin', password);

    // Another installation gets another secret.
    const other = await newHome();
    homes.push(other);
    const third = await startProcess(other);
    const otherSalt = (parse(await readFile(join(other, 'config', 'config.yaml'), 'utf8')) as { REST: { JWT: { JWTSalt: string } } }).REST.JWT.JWTSalt;
    expect(otherSalt).not.toBe(salt);
    await stopProcess(third.child);
  });

  test('APPMESH_ADMIN_PASSWORD sets the first password; SIGTERM stops the whole process trees', async () => {
    const home = await newHome();
    homes.push(home);
    const started = await startProcess(home, { APPMESH_ADMIN_PASSWORD: 'Given-Password-9' });
    expect(existsSync(join(home, 'initial-admin-password'))).toBe(false);
    const token = await login(started.url, 'admin', 'Given-Password-9');
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    const put = await fetch(`${started.url}/appmesh/app/tree`, { method: 'PUT', headers, body: JSON.stringify({ command: 'sleep 300 & echo $!; wait', shell: true }) });
    expect(put.status).toBe(200);
    const grandchild = await waitFor(async () => Number((await (await fetch(`${started.url}/appmesh/app/tree/output`, { headers })).text()).trim()) || undefined, 10_000, 'the child pid');
    const pid = ((await (await fetch(`${started.url}/appmesh/app/tree`, { headers })).json()) as { pid: number }).pid;
    // The daemon's own settings (they may hold secrets) are not passed on to applications.
    const env = await fetch(`${started.url}/appmesh/app/syncrun`, { method: 'POST', headers, body: JSON.stringify({ command: 'env' }) });
    expect(await env.text()).not.toContain('APPMESH_');
    expect(await stopProcess(started.child)).toBe(0);
    expect(await processAlive(pid)).toBe(false);
    expect(await processAlive(grandchild)).toBe(false);
  });

  test('SIGHUP re-reads an edited config.yaml; an invalid edit is refused and the daemon keeps serving', async () => {
    const home = await newHome();
    homes.push(home);
    const started = await startProcess(home, { APPMESH_ADMIN_PASSWORD: 'Given-Password-9' });
    const token = await login(started.url, 'admin', 'Given-Password-9');
    const logLevel = async () => ((await (await fetch(`${started.url}/appmesh/config`, { headers: { Authorization: `Bearer ${token}` } })).json()) as { BaseConfig: { LogLevel: string } }).BaseConfig.LogLevel;
    expect(await logLevel()).toBe('INFO');
    const file = join(home, 'config', 'config.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, (await readFile(file, 'utf8')).replace('LogLevel: INFO', 'LogLevel: WARN'));
    started.child.kill('SIGHUP');
    await waitFor(async () => (await logLevel()) === 'WARN', 10_000, 'the reload');
    await writeFile(file, 'BaseConfig: [broken');
    started.child.kill('SIGHUP');
    await waitFor(() => started.stdout().includes('configuration not reloaded'), 10_000, 'the refusal');
    expect(await logLevel()).toBe('WARN');
  });

  test('a corrupt configuration stops the start with a clear error instead of being replaced', async () => {
    const home = await newHome();
    homes.push(home);
    const { mkdir, writeFile } = await import('node:fs/promises');
    await mkdir(join(home, 'config'), { recursive: true });
    await writeFile(join(home, 'config', 'config.yaml'), 'REST: [unclosed');
    const child = spawn(process.execPath, [MAIN], { env: { ...process.env, APPMESH_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toMatch(/config\.yaml/);
    expect(await readFile(join(home, 'config', 'config.yaml'), 'utf8')).toBe('REST: [unclosed');
  });
});
