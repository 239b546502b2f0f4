import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { BrokerAcl, BrokerIdentity } from './broker-acl.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  acl: BrokerAcl;
  /** Decides who connects; undefined refuses the connection. */
  authenticate(client: { id: string; address: string }, username: string | undefined, password: Buffer | undefined): Promise<BrokerIdentity | undefined>;
  warn(message: string): void;
}

export interface EmbeddedBroker {
  /** Where clients connect, e.g. `mqtt://127.0.0.1:1883` (the bound port when 0 was asked). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const BAD_USERNAME_OR_PASSWORD = 4;

/** The broker the daemon runs when no external one is configured (aedes speaks MQTT 3.1.1). */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const identities = new WeakMap<Client, BrokerIdentity>();
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const address = remoteAddress(client);
      options.authenticate({ id: client.id, address }, username || undefined, password).then(
        (identity) => {
          if (!identity) return done(refused(), false);
          identities.set(client, identity);
          done(null, true);
        },
        (error: Error) => {
          options.warn(`MQTT broker: authenticating ${client.id} failed: ${error.message}`);
          done(refused(), false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      // Broker-internal publications (wills, $SYS) come without a client.
      if (!client) return done(null);
      const identity = identities.get(client);
      if (identity && options.acl.mayPublish(identity, packet.topic, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload))) return done(null);
      done(new Error(`publish to ${packet.topic} not authorised`));
    },
    authorizeForward(client, packet) {
      const identity = identities.get(client);
      return identity && options.acl.mayReceive(identity, packet.topic) ? packet : null;
    },
    authorizeSubscribe(client, subscription, done) {
      const identity = identities.get(client);
      if (!identity) return done(null, null);
      options.acl.maySubscribe(identity, subscription.topic).then(
        // null refuses this filter (SUBACK 0x80) and keeps the connection.
        (allowed) => done(null, allowed ? subscription : null),
        () => done(null, null),
      );
    },
  });

  // Small request/reply packets: Nagle's algorithm would hold each one back for a delayed ACK.
  const server: Server = createServer({ noDelay: true }, broker.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  return {
    url: `mqtt://${connectHost(options.host)}:${port}`,
    port,
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function refused(): AuthenticateError {
  return Object.assign(new Error('bad user name or password'), { returnCode: BAD_USERNAME_OR_PASSWORD }) as AuthenticateError;
}

function remoteAddress(client: Client): string {
  const conn = client.conn as { remoteAddress?: string };
  return conn.remoteAddress ?? 'unknown';
}

/** A wildcard listen address is reached on loopback. */
function connectHost(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
