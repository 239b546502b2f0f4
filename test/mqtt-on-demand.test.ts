// The embedded broker binds its port at start and brings the broker and the bridge up at the first
// connection: the connections that arrive meanwhile wait for them and are served as before.
import { connect, createServer } from 'node:net';
import { describe, expect, test } from 'vitest';
import { Device } from './helpers/mqtt-device.js';
import { ADMIN_PASSWORD, startTestDaemon } from './helpers/test-daemon.js';
import { Logger } from '../src/util/log.js';

const NODE = 'node-od';
const env = { APPMESH_MQTT_NodeId: NODE };
const asAdmin = { username: 'admin', password: ADMIN_PASSWORD };

function portOf(url: string): number {
  return Number(new URL(url).port);
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('the embedded broker on demand', () => {
  test('its port is bound and announced at start; a daemon nobody connected to frees it on close', async () => {
    const lines: string[] = [];
    const d = await startTestDaemon({ env, logger: new Logger('INFO', (line) => lines.push(line)) });
    const port = portOf(d.daemon.mqtt!.url);
    try {
      expect(d.daemon.mqtt).toMatchObject({ embedded: true, nodeId: NODE });
      expect(lines.join('\n')).toContain(`MQTT embedded broker listening on mqtt://127.0.0.1:${port}`);
      expect(await portIsFree(port)).toBe(false);
    } finally {
      await d.stop();
    }
    expect(await portIsFree(port)).toBe(true);
  });

  test('devices connecting at once, first of all, each get their first request answered', async () => {
    const d = await startTestDaemon({ env });
    const devices: Device[] = [];
    try {
      devices.push(...(await Promise.all([1, 2, 3].map(() => Device.connect(d.daemon.mqtt!.url, 'admin', asAdmin)))));
      const replies = await Promise.all(devices.map((device) => device.call(NODE, { http_method: 'GET', request_uri: '/appmesh/applications' }, d.token)));
      expect(replies.map((reply) => reply.http_status)).toEqual([200, 200, 200]);
    } finally {
      await Promise.all(devices.map((device) => device.close()));
      await d.stop();
    }
  });

  test('a first connection that goes away before the broker is up does not keep the next ones out', async () => {
    const d = await startTestDaemon({ env });
    let device: Device | undefined;
    try {
      const port = portOf(d.daemon.mqtt!.url);
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve();
        });
        socket.once('error', reject);
      });
      device = await Device.connect(d.daemon.mqtt!.url, 'admin', asAdmin);
      expect((await device.call(NODE, { http_method: 'GET', request_uri: '/appmesh/applications' }, d.token)).http_status).toBe(200);
    } finally {
      await device?.close();
      await d.stop();
    }
  });

  test('a daemon closed while its broker is coming up stops cleanly and frees the port', async () => {
    const d = await startTestDaemon({ env });
    const port = portOf(d.daemon.mqtt!.url);
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await d.stop();
    socket.destroy();
    expect(await portIsFree(port)).toBe(true);
  });
});
