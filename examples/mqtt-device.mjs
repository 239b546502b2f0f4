// A device talking to App Mesh TS over MQTT only: logs in, runs a command, prints the replies.
//   APPMESH_PASSWORD=... node examples/mqtt-device.mjs
// Optional: APPMESH_MQTT_URL (default mqtt://127.0.0.1:1883, the daemon's embedded broker),
// APPMESH_NODE (the daemon's MQTT.NodeId, default its host name), APPMESH_USER (default admin).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import mqtt from 'mqtt';

const url = process.env.APPMESH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const node = process.env.APPMESH_NODE ?? hostname();
const user = process.env.APPMESH_USER ?? 'admin';
const password = process.env.APPMESH_PASSWORD;
if (!password) throw new Error('set APPMESH_PASSWORD');

// The embedded broker knows App Mesh users: the same name and password (or a JWT).
const client = await mqtt.connectAsync(url, { username: user, password, reconnectPeriod: 0 });
// Requests are small packets: send them at once rather than wait for TCP's delayed ACK.
client.stream.setNoDelay?.(true);

// Replies to this device come on its own topic, which only this user may read.
const replyTo = `appmesh/${node}/reply/${user}/${client.options.clientId}`;
const pending = new Map();
client.on('message', (_topic, payload) => {
  const reply = JSON.parse(payload.toString());
  pending.get(reply.uuid)?.(reply);
  pending.delete(reply.uuid);
});
await client.subscribeAsync(replyTo, { qos: 1 });

/** One REST call over MQTT: { http_status, headers, body } as REST would answer it. */
function call(http_method, request_uri, { body, headers } = {}) {
  const uuid = randomUUID();
  const reply = new Promise((resolve) => pending.set(uuid, resolve));
  client.publish(`appmesh/${node}/request`, JSON.stringify({ uuid, http_method, request_uri, headers, body, reply_to: replyTo }), { qos: 1 });
  return reply;
}

// A token for the requests, obtained over MQTT too.
const basic = Buffer.from(`${user}:${password}`).toString('base64');
const login = await call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
if (login.http_status !== 200) throw new Error(`login: ${login.http_status} ${JSON.stringify(login.body)}`);
const auth = { Authorization: `Bearer ${login.body.access_token}` };

const run = await call('POST', '/appmesh/app/syncrun', { headers: auth, body: { command: 'uname -a' } });
console.log(`exit code ${run.headers['x-exit-code']}: ${run.body}`);

const apps = await call('GET', '/appmesh/applications', { headers: auth });
console.log(`${apps.body.length} applications:`, apps.body.map((app) => app.name).join(', ') || '(none)');

await client.endAsync();
