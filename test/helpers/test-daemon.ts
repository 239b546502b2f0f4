import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type Daemon } from '../../src/daemon.js';
import { Logger } from '../../src/util/log.js';

export const ADMIN_PASSWORD = 'Test-Admin-Password-1';

export interface TestDaemon {
  daemon: Daemon;
  home: string;
  url: string;
  /** Bearer token of `admin`. */
  token: string;
  request(method: string, path: string, options?: RequestOptions): Promise<Response>;
  /** Closes the daemon and removes its home. */
  stop(): Promise<void>;
  /** Closes and starts again on the same home (a daemon restart). */
  restart(): Promise<void>;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Token to send; `null` sends none. Default: the admin token. */
  token?: string | null;
}

export async function newHome(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'appmesh-test-'));
}

/** A real daemon on 127.0.0.1 with a random port and a fresh home. */
export async function startTestDaemon(options: { home?: string; env?: Record<string, string>; logger?: Logger; tcpPort?: number; webSocketPort?: number } = {}): Promise<TestDaemon> {
  const home = options.home ?? (await newHome());
  // Parallel daemons must not fight over MQTT's 1883: each embedded broker takes a free port.
  const env = { ...process.env, APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD, APPMESH_MQTT_EmbeddedBrokerPort: '0', ...options.env };
  const logger = options.logger ?? new Logger('ERROR', () => undefined);
  let daemon = await startDaemon({ home, env, port: 0, tcpPort: options.tcpPort, webSocketPort: options.webSocketPort, logger });
  const state: TestDaemon = {
    daemon,
    home,
    url: daemon.url,
    token: '',
    request: (method, path, requestOptions = {}) => request(state, method, path, requestOptions),
    async stop() {
      await daemon.close();
      await rm(home, { recursive: true, force: true });
    },
    async restart() {
      await daemon.close();
      daemon = await startDaemon({ home, env, port: 0, tcpPort: options.tcpPort, webSocketPort: options.webSocketPort, logger });
      state.daemon = daemon;
      state.url = daemon.url;
      state.token = await login(state.url, 'admin', ADMIN_PASSWORD);
    },
  };
  state.token = await login(state.url, 'admin', ADMIN_PASSWORD);
  return state;
}

export async function login(url: string, user: string, password: string): Promise<string> {
  const response = await fetch(`${url}/appmesh/login`, {
    method: 'POST',
    headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
  });
  if (response.status !== 200) throw new Error(`login failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function request(state: TestDaemon, method: string, path: string, options: RequestOptions): Promise<Response> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? state.token : options.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['Content-Type'] ??= 'application/json';
  }
  return fetch(`${state.url}${path}`, { method, headers, body });
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** True while a process with this pid exists (and is not a zombie). */
export async function processAlive(pid: number): Promise<boolean> {
  try {
    const { readFile } = await import('node:fs/promises');
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

export async function getApp(state: TestDaemon, name: string): Promise<Record<string, unknown>> {
  const response = await state.request('GET', `/appmesh/app/${name}`);
  if (response.status !== 200) throw new Error(`GET app ${name}: ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}
