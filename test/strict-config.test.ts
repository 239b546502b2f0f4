import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { Logger } from '../src/util/log.js';
import { Device } from './helpers/mqtt-device.js';
import { ADMIN_PASSWORD, login, newHome, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// A service must start on the settings it was given or not at all: every refusal names the key,
// the value and what is allowed, and nothing is replaced by a default behind the operator's back.

const MAIN = join(import.meta.dirname, '..', 'dist', 'src', 'main.js');
const homes: string[] = [];
const daemons: Daemon[] = [];

async function homeWith(yaml?: string): Promise<string> {
  const home = await newHome();
  homes.push(home);
  if (yaml !== undefined) {
    await mkdir(join(home, 'config'), { recursive: true, mode: 0o700 });
    await writeFile(join(home, 'config', 'config.yaml'), yaml, { mode: 0o600 });
  }
  return home;
}

const baseEnv = (): NodeJS.ProcessEnv => ({ ...process.env, APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, APPMESH_MQTT_EmbeddedBrokerPort: '0' });

async function start(home: string, env: Record<string, string> = {}, options: { port?: number; lines?: string[] } = {}): Promise<Daemon> {
  const lines = options.lines ?? [];
  const daemon = await startDaemon({ home, env: { ...baseEnv(), ...env }, port: options.port ?? 0, logger: new Logger('INFO', (line) => void lines.push(line)) });
  daemons.push(daemon);
  return daemon;
}

async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

/** The exit code of a daemon process expected to refuse its start; one that starts anyway is killed. */
async function exitCode(child: ChildProcess, timeoutMs = 20_000): Promise<number | null | 'running'> {
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const timer = new Promise<'running'>((resolve) => setTimeout(() => resolve('running'), timeoutMs));
  const result = await Promise.race([exited, timer]);
  if (result === 'running') {
    child.kill('SIGKILL');
    await exited;
  }
  return result;
}

afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.close()));
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
});

describe('a bad configuration stops the start, naming the key', () => {
  test.each([
    ['a misspelt key', 'BaseConfig:\n  LogLevl: DEBUG\n', {}, 'BaseConfig.LogLevl: unknown key (did you mean BaseConfig.LogLevel?)'],
    ['an unknown section', 'Rest:\n  RestListenPort: 7000\n', {}, 'Rest: unknown key (did you mean REST?)'],
    ['a port out of range', 'REST:\n  RestListenPort: 70000\n', {}, 'REST.RestListenPort: 70000 is out of range (allowed: an integer from 1 to 65535)'],
    ['a scheduler tick out of range', 'BaseConfig:\n  ScheduleIntervalSeconds: 500\n', {}, 'BaseConfig.ScheduleIntervalSeconds: 500 is out of range (allowed: an integer from 1 to 100)'],
    ['an unreadable environment override', undefined, { APPMESH_REST_RestListenPort: 'notaport' }, 'APPMESH_REST_RestListenPort="notaport": REST.RestListenPort must be an integer from 1 to 65535'],
    ['an environment override out of range', undefined, { APPMESH_Limits_KillGraceSeconds: '600' }, 'APPMESH_Limits_KillGraceSeconds="600": Limits.KillGraceSeconds: 600 is out of range (allowed: an integer from 0 to 60)'],
    ['a security back-end that is not provided', 'REST:\n  JWT:\n    SecurityInterface: ldap\n', {}, 'REST.JWT.SecurityInterface: "ldap" is not allowed (allowed: one of local): only local is supported'],
    ['client verification without HTTPS', 'REST:\n  JWT:\n    JWTSalt: a-secret-of-forty-characters-0123456789ab\n  SSL:\n    VerifyClient: true\n', {}, 'REST.SSL.VerifyClient needs HTTPS: set REST.SSL.SSLCertificateFile and REST.SSL.SSLCertificateKeyFile'],
  ])('%s', async (_label, yaml, env, message) => {
    const home = await homeWith(yaml);
    await expect(start(home, env)).rejects.toThrow(message);
    // The operator's file is left as it was, to be fixed.
    if (yaml !== undefined) expect(await readFile(join(home, 'config', 'config.yaml'), 'utf8')).toBe(yaml);
  });

  test('a REST port in use names the setting and its variable', async () => {
    const busy = await busyPort();
    try {
      await expect(start(await homeWith(), {}, { port: busy.port })).rejects.toThrow(
        `REST.RestListenPort ${busy.port} is in use (by another process): set REST.RestListenPort or APPMESH_REST_RestListenPort`,
      );
    } finally {
      busy.server.close();
    }
  });

  test('an embedded broker port in use names MQTT.EmbeddedBrokerPort; REST serves on', async () => {
    const busy = await busyPort();
    const lines: string[] = [];
    try {
      const daemon = await start(await homeWith(), { APPMESH_MQTT_EmbeddedBrokerPort: String(busy.port) }, { lines });
      expect(lines.join('\n')).toMatch(new RegExp(`127\\.0\\.0\\.1:${busy.port} \\(the port is in use\\); set MQTT\\.EmbeddedBrokerPort \\(APPMESH_MQTT_EmbeddedBrokerPort\\)`));
      expect((await fetch(`${daemon.url}/appmesh/readyz`)).status).toBe(200);
    } finally {
      busy.server.close();
    }
  });

  test('keys earlier versions wrote still load, each named in a warning', async () => {
    const lines: string[] = [];
    const daemon = await start(await homeWith('REST:\n  WorkerThreadPoolSize: 2\n  IOThreadPoolSize: 2\n'), {}, { lines });
    expect((await fetch(`${daemon.url}/appmesh/readyz`)).status).toBe(200);
    const warnings = lines.filter((line) => line.includes('is no longer used'));
    expect(warnings.map((line) => /(REST\.\w+) is no longer used/.exec(line)?.[1])).toEqual(['REST.WorkerThreadPoolSize', 'REST.IOThreadPoolSize']);
  });

  // The daemon as a service manager starts it: the built entry point (`npm test` builds first).
  test.runIf(existsSync(MAIN))('the daemon process exits 1 with the message naming the key', async () => {
    const home = await homeWith('BaseConfig:\n  LogLevl: DEBUG\n');
    const child = spawn(process.execPath, [MAIN], { env: { ...baseEnv(), APPMESH_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    expect(await exitCode(child)).toBe(1);
    expect(output).toContain('BaseConfig.LogLevl: unknown key (did you mean BaseConfig.LogLevel?)');

    const env = await homeWith();
    const second = spawn(process.execPath, [MAIN], { env: { ...baseEnv(), APPMESH_HOME: env, APPMESH_REST_RestListenPort: 'notaport' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let secondOutput = '';
    second.stdout.on('data', (chunk: Buffer) => (secondOutput += chunk.toString()));
    second.stderr.on('data', (chunk: Buffer) => (secondOutput += chunk.toString()));
    expect(await exitCode(second)).toBe(1);
    expect(secondOutput).toContain('APPMESH_REST_RestListenPort="notaport"');
  });
});

describe('POST /appmesh/config refuses what it cannot apply, and saves nothing', () => {
  let d: TestDaemon;
  beforeAll(async () => {
    d = await startTestDaemon();
  });
  afterAll(async () => {
    await d?.stop();
  });
  const configFile = () => readFile(join(d.home, 'config', 'config.yaml'), 'utf8');

  test.each([
    [{ BaseConfig: { LogLevl: 'DEBUG' } }, 'BaseConfig.LogLevl: unknown key (did you mean BaseConfig.LogLevel?)'],
    [{ Limitz: { MaxRunsPerUser: 1 } }, 'Limitz: unknown key (did you mean Limits?)'],
    [{ REST: { RestListenPort: 70000 } }, 'REST.RestListenPort: 70000 is out of range (allowed: an integer from 1 to 65535)'],
    [{ REST: { RestListenPort: 0 } }, 'REST.RestListenPort: 0 is out of range (allowed: an integer from 1 to 65535)'],
    [{ BaseConfig: { ScheduleIntervalSeconds: 101 } }, 'BaseConfig.ScheduleIntervalSeconds: 101 is out of range (allowed: an integer from 1 to 100)'],
    [{ REST: { JWT: { SecurityInterface: 'ldap' } } }, 'REST.JWT.SecurityInterface: "ldap" is not allowed (allowed: one of local): only local is supported'],
    [{ REST: { SSL: { VerifyClientt: true } } }, 'REST.SSL.VerifyClientt: unknown key (did you mean REST.SSL.VerifyClient?)'],
  ])('%j → 400 naming the key', async (patch, message) => {
    const before = await configFile();
    const response = await d.request('POST', '/appmesh/config', { body: patch });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain(message);
    expect(await configFile()).toBe(before);
  });

  test('TLS settings the next start could not use are refused now: VerifyClient without HTTPS, a missing certificate', async () => {
    const before = await configFile();
    for (const [patch, message] of [
      [{ REST: { SSL: { VerifyClient: true } } }, 'REST.SSL.VerifyClient needs HTTPS'],
      [{ REST: { SSL: { SSLCertificateFile: 'ssl/none.pem', SSLCertificateKeyFile: 'ssl/none-key.pem' } } }, 'REST.SSL.SSLCertificateFile: '],
    ] as const) {
      const response = await d.request('POST', '/appmesh/config', { body: patch });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { message: string }).message).toContain(message);
    }
    expect(await configFile()).toBe(before);
  });

  test('a port the daemon does not accept at start is not accepted at runtime either (no silent 6060)', async () => {
    expect((await d.request('POST', '/appmesh/config', { body: { REST: { RestListenPort: 80 } } })).status).toBe(200);
    const running = (await (await d.request('GET', '/appmesh/config')).json()) as { REST: { RestListenPort: number } };
    expect(running.REST.RestListenPort).toBe(80);
    expect(await configFile()).toMatch(/RestListenPort: 80\n/);
    expect((await d.request('POST', '/appmesh/config', { body: { REST: { RestListenPort: 6060 } } })).status).toBe(200);
  });
});

describe('keys that used to do nothing', () => {
  test('REST.RestEnabled false: no REST listener; the API is served over MQTT', async () => {
    const daemon = await start(await homeWith('REST:\n  RestEnabled: false\n'));
    expect(daemon.url).toBe('');
    expect(daemon.rest.server.listening).toBe(false);
    const device = await Device.connect(daemon.mqtt!.url, 'admin', { username: 'admin', password: ADMIN_PASSWORD });
    try {
      const node = daemon.mqtt!.nodeId;
      const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
      const loggedIn = await device.call(node, { http_method: 'POST', request_uri: '/appmesh/login', headers: { Authorization: basic } }, undefined);
      expect(loggedIn.http_status).toBe(200);
      const token = (loggedIn.body as { access_token: string }).access_token;
      const run = await device.call(node, { http_method: 'POST', request_uri: '/appmesh/app/syncrun', body: { command: 'echo no-rest' } }, token);
      expect(run.body).toBe('no-rest\n');
    } finally {
      await device.close();
    }
  });

  test('REST.PrometheusExporterListenPort: plain-HTTP /metrics without a token, and nothing else', async () => {
    const free = await busyPort();
    const port = free.port;
    await new Promise((resolve) => free.server.close(resolve));
    const daemon = await start(await homeWith(), { APPMESH_REST_PrometheusExporterListenPort: String(port) });
    const exporter = `http://127.0.0.1:${port}`;
    const metrics = await waitFor(async () => (await fetch(`${exporter}/metrics`).catch(() => undefined)) ?? false, 5000, 'the exporter');
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('appmesh_build_info');
    expect((await fetch(`${exporter}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${exporter}/metrics`, { headers: { 'X-Target-Host': '127.0.0.1:1' } })).status).toBe(400);
    expect((await fetch(`${exporter}/appmesh/applications`)).status).toBe(404);
    // The token-protected API stays on the REST listener only.
    const token = await login(daemon.url, 'admin', ADMIN_PASSWORD);
    expect((await fetch(`${exporter}/appmesh/applications`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(404);
  });
});
