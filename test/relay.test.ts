import { createServer as createHttpServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';
import { Device } from './helpers/mqtt-device.js';

// X-Target-Host as a hostile user uses it: a relay into services only the host can reach, a port
// scanner, a way to ship the caller's credentials elsewhere, and a way to hold request slots.

const PASSWORD = 'Relay-User-Password-1';

/** A loopback-only HTTP service with a secret; it remembers what reached it. */
interface Recorder {
  server: Server;
  address: string;
  seen: IncomingHttpHeaders[];
}

async function recorder(host = '127.0.0.1'): Promise<Recorder> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createHttpServer((request, response) => {
    seen.push(request.headers);
    response.writeHead(200, { 'content-type': 'text/plain' }).end('the-internal-secret');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  return { server, address: `${host.includes(':') ? `[${host}]` : host}:${port}`, seen };
}

/** Accepts connections and never answers; counts the connections still open. */
interface Tarpit {
  address: string;
  open: Set<Socket>;
  accepted: () => number;
  close: () => Promise<void>;
}

async function tarpit(): Promise<Tarpit> {
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createTcpServer((socket) => {
    accepted++;
    open.add(socket);
    socket.on('error', () => undefined);
    // Reads what comes (so it sees the other side hang up) and never answers.
    socket.resume();
    socket.once('close', () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    open,
    accepted: () => accepted,
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const message = async (response: Response) => ((await response.json()) as { message: string }).message;

let d: TestDaemon;
let secret: Recorder;
let node: Recorder;
let pit: Tarpit;
let nobody: string;
beforeAll(async () => {
  d = await startTestDaemon();
  secret = await recorder();
  node = await recorder();
  pit = await tarpit();
  expect((await d.request('PUT', '/appmesh/user/nobody', { body: { key: PASSWORD, group: 'users', roles: [] } })).status).toBe(200);
  nobody = await login(d.url, 'nobody', PASSWORD);
});
afterAll(async () => {
  await d?.stop();
  await closeServer(secret.server);
  await closeServer(node.server);
  await pit.close();
});

const setNodes = async (nodes: string[], timeoutSeconds?: number) => {
  const body = { REST: { ClusterNodes: nodes, ...(timeoutSeconds === undefined ? {} : { ForwardTimeoutSeconds: timeoutSeconds }) } };
  expect((await d.request('POST', '/appmesh/config', { body })).status).toBe(200);
};

describe('relay targets', () => {
  test('by default the relay is off: a user without roles reaches no loopback service, not even admin does', async () => {
    for (const token of [nobody, d.token]) {
      const response = await d.request('GET', '/appmesh/applications', { token, headers: { 'X-Target-Host': secret.address } });
      expect(response.status).toBe(403);
      const text = await message(response);
      expect(text).toContain('REST.ClusterNodes');
      expect(text).not.toContain('the-internal-secret');
    }
    expect(secret.seen).toHaveLength(0);
  });

  test('no port scan: a closed port and an open one answer the same refusal', async () => {
    const answers = await Promise.all(['127.0.0.1:1', secret.address, '127.0.0.1:22'].map(async (target) => {
      const response = await d.request('GET', '/appmesh/applications', { token: nobody, headers: { 'X-Target-Host': target } });
      return `${response.status} ${(await message(response)).replace(target, '<target>')}`;
    }));
    expect(new Set(answers).size).toBe(1);
    expect(answers[0]).toMatch(/^403 /);
  });

  test('only the configured nodes: another host:port is refused even for admin, before any connection', async () => {
    await setNodes([node.address]);
    const response = await d.request('GET', '/appmesh/applications', { headers: { 'X-Target-Host': secret.address } });
    expect(response.status).toBe(403);
    expect(await message(response)).toContain('REST.ClusterNodes');
    expect(secret.seen).toHaveLength(0);
  });

  test('a configured node still needs the relay permission: a user without it is refused', async () => {
    await setNodes([node.address]);
    const response = await d.request('GET', '/appmesh/applications', { token: nobody, headers: { 'X-Target-Host': node.address } });
    expect([400, 403]).toContain(response.status);
    expect(await message(response)).toMatch(/permission/i);
    expect(node.seen).toHaveLength(0);
  });

  test('a user given request-forward by a role relays to a configured node', async () => {
    expect((await d.request('POST', '/appmesh/role/relayer', { body: ['request-forward'] })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/user/operator', { body: { key: PASSWORD, group: 'users', roles: ['relayer'] } })).status).toBe(200);
    const operator = await login(d.url, 'operator', PASSWORD);
    node.seen.length = 0;
    const response = await d.request('GET', '/appmesh/applications', { token: operator, headers: { 'X-Target-Host': node.address } });
    expect(response.status).toBe(200);
    expect(node.seen[0].authorization).toBe(`Bearer ${operator}`);
  });
});

describe('the caller\'s credentials', () => {
  test('a configured loopback node gets the bearer token, never the cookie', async () => {
    await setNodes([node.address]);
    node.seen.length = 0;
    const response = await d.request('GET', '/appmesh/applications', {
      headers: { 'X-Target-Host': node.address, Cookie: `appmesh_auth_token=${d.token}; other=private-cookie` },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('the-internal-secret');
    expect(node.seen).toHaveLength(1);
    expect(node.seen[0].authorization).toBe(`Bearer ${d.token}`);
    expect(node.seen[0].cookie).toBeUndefined();
    expect(node.seen[0]['x-target-host']).toBeUndefined();
  });

  test('a cookie session is relayed as a bearer token (the cookie itself stays here)', async () => {
    node.seen.length = 0;
    const response = await d.request('GET', '/appmesh/applications', { token: null, headers: { 'X-Target-Host': node.address, Cookie: `appmesh_auth_token=${d.token}` } });
    expect(response.status).toBe(200);
    expect(node.seen[0].authorization).toBe(`Bearer ${d.token}`);
    expect(node.seen[0].cookie).toBeUndefined();
  });

  const external = Object.values(networkInterfaces()).flat().find((entry) => entry && entry.family === 'IPv4' && !entry.internal)?.address;
  test.runIf(external !== undefined)('a node off this host over plain HTTP would see the token in clear: refused before connecting', async () => {
    const outside = await recorder(external!);
    try {
      await setNodes([outside.address]);
      const response = await d.request('GET', '/appmesh/applications', { headers: { 'X-Target-Host': outside.address } });
      expect(response.status).toBe(403);
      expect(await message(response)).toMatch(/TLS/);
      expect(outside.seen).toHaveLength(0);
    } finally {
      await closeServer(outside.server);
    }
  });
});

describe('time', () => {
  test('a node that never answers: 504 with a message after REST.ForwardTimeoutSeconds, and the connection is closed', async () => {
    await setNodes([pit.address], 1);
    const started = Date.now();
    const response = await d.request('GET', '/appmesh/applications', { headers: { 'X-Target-Host': pit.address } }).catch((error: Error) => error);
    expect(response).toBeInstanceOf(Response);
    expect((response as Response).status).toBe(504);
    expect(await message(response as Response)).toMatch(/timed out|did not answer/i);
    expect(Date.now() - started).toBeLessThan(4000);
    await waitFor(() => pit.open.size === 0, 3000, 'the tarpit connection to close');
  }, 15_000);

  test('a caller that gives up aborts the upstream request', async () => {
    await setNodes([pit.address], 30);
    const before = pit.accepted();
    const abort = new AbortController();
    const pending = fetch(`${d.url}/appmesh/applications`, { headers: { Authorization: `Bearer ${d.token}`, 'X-Target-Host': pit.address }, signal: abort.signal }).catch(() => 'aborted');
    await waitFor(() => pit.accepted() > before && pit.open.size > 0, 5000, 'the relay to connect');
    abort.abort();
    expect(await pending).toBe('aborted');
    await waitFor(() => pit.open.size === 0, 3000, 'the upstream connection to close');
  }, 15_000);
});

describe('through MQTT (requests served by inject)', () => {
  let q: TestDaemon;
  let device: Device;
  beforeAll(async () => {
    q = await startTestDaemon({
      env: {
        APPMESH_MQTT_NodeId: 'relay-q', APPMESH_MQTT_MaxQueuedRequests: '1', APPMESH_MQTT_RequestTimeoutSeconds: '1',
        APPMESH_REST_ClusterNodes: pit.address, APPMESH_REST_ForwardTimeoutSeconds: '30',
      },
    });
    device = await Device.connect(q.daemon.mqtt!.url, 'admin', { username: 'admin', password: ADMIN_PASSWORD });
  });
  afterAll(async () => {
    await device?.close();
    await q?.stop();
  });

  test('a relay to a tarpit frees its request slot when MQTT.RequestTimeoutSeconds ends it', async () => {
    const before = pit.accepted();
    const slow = await device.call('relay-q', { http_method: 'GET', request_uri: '/appmesh/applications', headers: { 'X-Target-Host': pit.address } }, q.token);
    expect(slow.http_status).toBe(504);
    expect(pit.accepted()).toBeGreaterThan(before);
    // The slot is free again at once, and the upstream connection is gone.
    await waitFor(() => pit.open.size === 0, 2000, 'the upstream connection to close');
    const next = await device.call('relay-q', { http_method: 'GET', request_uri: '/appmesh/user/self' }, q.token);
    expect(next.http_status).toBe(200);
  }, 20_000);
});
