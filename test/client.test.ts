import { randomBytes } from 'node:crypto';
import { readdir, readFile, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppMeshClient, AppMeshError } from '../src/client/index.js';
import type { TokenResponse } from '../src/client/index.js';
import { ADMIN_PASSWORD, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';
import { CLOCK_LEEWAY_SECONDS } from '../src/auth/token-service.js';

const PASSWORD = 'Client-User-Password-1';
let d: TestDaemon;
let work: string;
beforeAll(async () => {
  d = await startTestDaemon();
  work = await mkdtemp(join(tmpdir(), 'appmesh-client-'));
});
afterAll(async () => {
  await d?.stop();
  await rm(work, { recursive: true, force: true });
});

const admin = async () => {
  const client = new AppMeshClient({ url: d.url });
  await client.login('admin', ADMIN_PASSWORD);
  return client;
};

async function failure(promise: Promise<unknown>): Promise<AppMeshError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(AppMeshError);
  return error as AppMeshError;
}

describe('AppMeshClient', () => {
  test('logs in, registers, views, enables, disables and removes an app', async () => {
    const client = await admin();
    const added = await client.apps.add('client-app', { command: 'sleep 60', description: 'typed' });
    expect(added.name).toBe('client-app');
    expect(added.owner).toBe('admin');
    expect((await client.apps.list()).map((app) => app.name)).toContain('client-app');
    expect((await client.apps.get('client-app')).description).toBe('typed');
    await client.apps.disable('client-app');
    expect((await client.apps.get('client-app')).status).toBe(0);
    await client.apps.enable('client-app');
    expect((await client.apps.get('client-app')).status).toBe(1);
    expect(await client.apps.remove('client-app')).toMatch(/removed/);
    expect((await failure(client.apps.get('client-app'))).kind).toBe('not-found');
  });

  test('errors are typed: unreachable (with the URL), unauthorized, forbidden (with the permission), bad request', async () => {
    const nowhere = await failure(new AppMeshClient({ url: 'http://127.0.0.1:1' }).apps.list());
    expect(nowhere.kind).toBe('unreachable');
    expect(nowhere.status).toBe(0);
    expect(nowhere.message).toContain('http://127.0.0.1:1');

    expect((await failure(new AppMeshClient({ url: d.url }).login('admin', 'wrong'))).kind).toBe('unauthorized');
    expect((await failure(new AppMeshClient({ url: d.url }).apps.list())).kind).toBe('unauthorized');

    const client = await admin();
    await client.users.put('client-viewer', { key: PASSWORD, roles: ['view'] });
    const viewer = new AppMeshClient({ url: d.url });
    await viewer.login('client-viewer', PASSWORD);
    const denied = await failure(viewer.apps.add('not-mine', { command: 'true' }));
    expect(denied.kind).toBe('forbidden');
    expect(denied.permission).toBe('app-reg');

    const bad = await failure(client.apps.add('bad', { command: 'x', permission: 1000 }));
    expect(bad.kind).toBe('bad-request');
    expect(bad.status).toBe(400);
  });

  test('TOTP: the 428 carries the challenge, a code answers it; the client renews and logs off', async () => {
    const client = await admin();
    await client.users.put('client-mfa', { key: PASSWORD, roles: ['view'] });
    const user = new AppMeshClient({ url: d.url });
    await user.login('client-mfa', PASSWORD);
    const secret = new URL(await user.totpSecret()).searchParams.get('secret')!;
    await user.totpSetup(await generate({ secret }));

    const required = await failure(new AppMeshClient({ url: d.url }).login('client-mfa', PASSWORD));
    expect(required.kind).toBe('totp-required');
    expect(required.status).toBe(428);
    const tokens: (TokenResponse | undefined)[] = [];
    const again = new AppMeshClient({ url: d.url, onToken: (token) => tokens.push(token) });
    // The step's code was used by the setup: the next step's code is the one a person would type.
    await again.loginInteractive('client-mfa', PASSWORD, async () => generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    expect((await again.users.self()).name ?? 'client-mfa').toBe('client-mfa');
    const first = again.token!;
    await again.renew();
    expect(again.token).not.toBe(first);
    expect(tokens.length).toBe(2);
    await again.logoff();
    expect(tokens.at(-1)).toBeUndefined();
    const revoked = new AppMeshClient({ url: d.url, token: first });
    expect((await failure(revoked.apps.list())).kind).toBe('unauthorized');
  });

  test('a token past its end (and the clock leeway) is reported as expired: log on again', async () => {
    const client = new AppMeshClient({ url: d.url, renewAtRemainingShare: 0 });
    await client.login('admin', ADMIN_PASSWORD, { expireSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, (1 + CLOCK_LEEWAY_SECONDS + 1) * 1000));
    const expired = await failure(client.apps.list());
    expect([expired.status, expired.kind]).toEqual([401, 'expired']);
  }, 20_000);

  test('a token near its end is renewed before the request', async () => {
    const renewed: string[] = [];
    const client = new AppMeshClient({ url: d.url, renewAtRemainingShare: 0.99, onToken: (token) => token && renewed.push(token.access_token) });
    await client.login('admin', ADMIN_PASSWORD, { expireSeconds: 100 });
    const first = client.token;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await client.apps.list();
    expect(renewed.length).toBe(2);
    expect(client.token).not.toBe(first);
  }, 20_000);

  test('runs: sync exit codes, streamed output, and an abort stops the remote tree', async () => {
    const client = await admin();
    const sync = await client.runs.runSync({ command: 'echo hi; exit 3', shell: true });
    expect(sync).toEqual({ output: 'hi\n', exitCode: 3 });

    let text = '';
    const code = await client.runs.run({ command: 'for i in 1 2 3; do echo line$i; sleep 0.2; done; exit 4', shell: true }, (piece) => (text += piece));
    expect(code).toBe(4);
    expect(text).toBe('line1\nline2\nline3\n');

    const abort = new AbortController();
    let pid = 0;
    const running = client.runs.run({ command: 'sleep 300 & echo $!; wait', shell: true }, (piece) => {
      pid ||= Number(piece.trim().split('\n')[0]);
      if (pid) abort.abort();
    }, { signal: abort.signal });
    expect(await running).toBeUndefined();
    expect(pid).toBeGreaterThan(0);
    await waitFor(async () => !(await processAlive(pid)), 10_000, 'the remote sleep to be gone');
  });

  test('files stream both ways byte-exact, with the mode kept', async () => {
    const client = await admin();
    const local = join(work, 'payload.bin');
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(local, bytes, { mode: 0o640 });
    const remote = join(work, 'remote.bin');
    let uploaded = 0;
    await client.files.uploadFile(local, remote, { onProgress: (progress) => (uploaded = progress.bytes) });
    expect(uploaded).toBe(bytes.length);
    expect((await stat(remote)).mode & 0o777).toBe(0o640);
    const back = join(work, 'back.bin');
    const info = await client.files.download(remote, back);
    expect(info.mode).toBe(0o640);
    expect((await readFile(back)).equals(bytes)).toBe(true);
    expect((await stat(back)).mode & 0o777).toBe(0o640);
    const exists = await failure(client.files.uploadFile(local, remote));
    expect([exists.status, exists.kind]).toEqual([403, 'conflict']);
  });

  test('labels, config, users, resources, metrics', async () => {
    const client = await admin();
    await client.system.setLabel('zone', 'eu-1');
    expect((await client.system.labels()).zone).toBe('eu-1');
    await client.system.removeLabel('zone');
    expect((await client.system.labels()).zone).toBeUndefined();
    expect(await client.system.setLogLevel('DEBUG')).toBe('DEBUG');
    expect((await client.system.config()).BaseConfig.LogLevel).toBe('DEBUG');
    await client.system.setLogLevel('INFO');
    expect(Object.keys(await client.users.list())).toContain('admin');
    expect((await client.system.resources()).schema_version).toBeGreaterThan(0);
    expect(await client.system.metrics()).toMatch(/# HELP/);
    expect(await client.system.ready()).toBe(true);
  });

  test('events stream as they happen; a task goes to the app and its answer comes back', async () => {
    const client = await admin();
    await client.apps.add('client-events', { command: 'sleep 1; echo hello-events; sleep 60', shell: true, status: 0 });
    const abort = new AbortController();
    const seen: string[] = [];
    const stream = (async () => {
      for await (const event of client.events('client-events', { events: ['START', 'STDOUT'], signal: abort.signal })) {
        seen.push(`${event.event_type}:${event.event_type === 'STDOUT' ? String((event.data as { output?: string } | null)?.output ?? '').trim() : ''}`);
        if (seen.some((entry) => entry.includes('hello-events'))) abort.abort();
      }
    })();
    // The stream is open once the daemon has answered its request (its first bytes are a comment).
    await new Promise((resolve) => setTimeout(resolve, 500));
    await client.apps.enable('client-events');
    await stream;
    expect(seen[0]).toBe('START:');
    await client.apps.remove('client-events');

    // tail: what is there first, then pushed pieces, each byte once and in order.
    await client.apps.add('client-tail', { command: 'i=0; while true; do i=$((i+1)); echo n$i; sleep 0.1; done', shell: true });
    await waitFor(async () => (await client.apps.output('client-tail')).text.includes('n3'));
    const stop = new AbortController();
    let text = '';
    for await (const piece of client.apps.tail('client-tail', { signal: stop.signal })) {
      text += piece;
      if (text.includes('n20\n')) stop.abort();
    }
    const numbers = [...text.matchAll(/n(\d+)/g)].map((match) => Number(match[1]));
    expect(numbers).toEqual(numbers.map((_, index) => index + 1));
    await client.apps.remove('client-tail');

    // The app's own process is the worker: it fetches each task with this client and answers it upper-cased.
    const worker = join(work, 'worker.mjs');
    await writeFile(worker, `
      const { AppMeshClient } = await import(${JSON.stringify(join(process.cwd(), 'dist/src/client/index.js'))});
      const client = new AppMeshClient({ url: process.env.URL, token: process.env.TOKEN });
      const key = process.env.APP_MESH_PROCESS_KEY;
      for (;;) {
        const payload = await client.tasks.fetch('client-tasks', key);
        await client.tasks.reply('client-tasks', key, payload.toString().toUpperCase());
      }
    `);
    await client.apps.add('client-tasks', { command: `${process.execPath} ${worker}`, env: { URL: d.url, TOKEN: client.token! } });
    await waitFor(async () => (await client.apps.get('client-tasks')).pid);
    expect((await client.tasks.send('client-tasks', 'ping', { timeoutSeconds: 20 })).toString()).toBe('PING');
    await client.apps.remove('client-tasks');
  });

  test('the built client loads none of the daemon: only node: modules and its own files', async () => {
    const folder = join(process.cwd(), 'dist/src/client');
    for (const file of (await readdir(folder)).filter((name) => name.endsWith('.js'))) {
      const source = await readFile(join(folder, file), 'utf8');
      for (const [, specifier] of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/g)) {
        expect(specifier, `${file} imports ${specifier}`).toMatch(/^(node:|\.\/[a-z-]+\.js$)/);
      }
    }
  });
});

// The MCP stdio relay (`appmesh-mcp` with APPMESH_URL) holds its session through the client.
const STDIO = join(import.meta.dirname, '..', 'dist', 'tools', 'stdio.js');
const baseEnv = () => Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('APPMESH_')));

describe('appmesh-mcp relay', () => {
  test('logs in as APPMESH_USER with APPMESH_PASSWORD when no token is given', async () => {
    const client = new Client({ name: 'relay-login-test', version: '1.0.0' });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [STDIO], env: { ...baseEnv(), APPMESH_URL: d.url, APPMESH_USER: 'admin', APPMESH_PASSWORD: ADMIN_PASSWORD }, stderr: 'ignore' }));
    const result = await client.callTool({ name: 'get_current_user', arguments: {} });
    expect(JSON.stringify(result.content)).toContain('admin');
    await client.close();
  });

  test('a revoked token or an unreachable daemon is reported before serving, with exit 1', async () => {
    const revoked = new AppMeshClient({ url: d.url });
    await revoked.login('admin', ADMIN_PASSWORD);
    const token = revoked.token!;
    await revoked.logoff();
    for (const [env, expected] of [
      [{ APPMESH_URL: d.url, APPMESH_TOKEN: token }, /revoked|Invalid token/],
      [{ APPMESH_URL: 'http://127.0.0.1:1', APPMESH_TOKEN: token }, /cannot reach http:\/\/127\.0\.0\.1:1/],
    ] as const) {
      const child = spawn(process.execPath, [STDIO], { env: { ...baseEnv(), ...env }, stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(1);
      expect(stderr).toMatch(expected);
    }
  });
});
