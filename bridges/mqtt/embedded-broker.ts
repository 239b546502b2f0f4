import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import './packet-numbers.js';
import type { BrokerAcl, BrokerIdentity } from './broker-acl.js';
import { ClientIds } from './client-ids.js';
import { connectHost, type BrokerListener } from './on-demand.js';
import { PACKET_ENVELOPE_BYTES, SizeCheckedConnection } from './packet-size-guard.js';
import { RetainedLedger } from './retained-ledger.js';
import { SessionQueues, type SessionPersistence } from './session-queues.js';

/** The bounds of the embedded broker, read at each check (the `MQTT` section may change at run time). */
export interface BrokerLimits {
  maxPayloadBytes: number;
  maxRetainedPerUser: number;
  maxRetainedBytesPerUser: number;
  maxQueuedPerClient: number;
  maxQueuedBytesPerClient: number;
  maxClientIdsPerUser: number;
}

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  acl: BrokerAcl;
  limits: () => BrokerLimits;
  /** Decides who connects; undefined refuses the connection. */
  authenticate(client: { id: string; address: string }, username: string | undefined, password: Buffer | undefined): Promise<BrokerIdentity | undefined>;
  /** Told of each accepted publication with its publisher's address (the bridge serves some of them). */
  published?(topic: string, payload: Buffer, address: string): void;
  warn(message: string): void;
  /** A port already bound for the broker (host and port are then where it listens). */
  listener?: BrokerListener;
}

export interface EmbeddedBroker {
  /** Where clients connect, e.g. `mqtt://127.0.0.1:1883` (the bound port when 0 was asked). */
  readonly url: string;
  readonly port: number;
  /** Disconnects every client of `user` and ends its kept sessions (its sign-ins ended). */
  disconnectUser(user: string): Promise<void>;
  close(): Promise<void>;
}

/** What aedes has at run time but its types leave out. */
interface AedesInternals {
  persistence: SessionPersistence;
  clients: Record<string, Client>;
}

const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
// Owners of client ids and retained messages that are no App Mesh user (names cannot hold '$').
const ANONYMOUS_OWNER = '$anonymous';
const BRIDGE_OWNER = '$bridge';

function ownerOf(identity: BrokerIdentity): string {
  if (identity.kind === 'user') return identity.principal.name;
  return identity.kind === 'bridge' ? BRIDGE_OWNER : ANONYMOUS_OWNER;
}

/** The broker the daemon runs when no external one is configured (aedes speaks MQTT 3.1.1). */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { limits, warn } = options;
  const identities = new WeakMap<Client, BrokerIdentity>();
  const clientIds = new ClientIds(() => limits().maxClientIdsPerUser);
  const retained = new RetainedLedger(() => ({ count: limits().maxRetainedPerUser, bytes: limits().maxRetainedBytesPerUser }));
  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const address = remoteAddress(client);
      options.authenticate({ id: client.id, address }, username || undefined, password).then(
        (identity) => {
          if (!identity) return done(refused('bad user name or password', BAD_USERNAME_OR_PASSWORD), false);
          const refusal = clientIds.claim(client.id, ownerOf(identity), identity.kind === 'anonymous' && client.clean);
          if (refusal) {
            warn(`MQTT broker: refused ${ownerOf(identity)} from ${address}: ${refusal}`);
            return done(refused(refusal, NOT_AUTHORIZED), false);
          }
          // A bridge publishes replies as large as REST answers them; devices stay bounded.
          if (identity.kind === 'bridge' || (identity.kind === 'user' && identity.fleet)) (client.conn as unknown as SizeCheckedConnection).lift();
          const clean = client.clean;
          client.conn.once('close', () => clientIds.disconnected(client.id, clean));
          identities.set(client, identity);
          done(null, true);
        },
        (error: Error) => {
          warn(`MQTT broker: authenticating ${client.id} failed: ${error.message}`);
          done(refused('bad user name or password', BAD_USERNAME_OR_PASSWORD), false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      // Broker-internal publications (wills, $SYS) come without a client.
      if (!client) return done(null);
      const identity = identities.get(client);
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (!identity || !options.acl.mayPublish(identity, { topic: packet.topic, payload, retain: packet.retain })) {
        return done(new Error(`publish to ${packet.topic} not authorised`));
      }
      if (packet.retain && identity.kind !== 'bridge') {
        const over = retained.admit(ownerOf(identity), packet.topic, payload.length);
        if (over) {
          warn(`MQTT broker: refused a retained message of ${ownerOf(identity)} on ${packet.topic.slice(0, 256)}: ${over} reached`);
          return done(new Error(`${over} reached`));
        }
      }
      options.published?.(packet.topic, payload, remoteAddress(client));
      done(null);
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
  const internals = broker as unknown as AedesInternals;
  const sessions = new SessionQueues(internals.persistence, () => ({ count: limits().maxQueuedPerClient, bytes: limits().maxQueuedBytesPerClient }), warn);

  const maxPacketBytes = () => limits().maxPayloadBytes + PACKET_ENVELOPE_BYTES;
  // Small request/reply packets: Nagle's algorithm would hold each one back for a delayed ACK.
  const accept = (socket: Socket): void => {
    const connection = new SizeCheckedConnection(socket, maxPacketBytes, (announced, limit) => {
      warn(`MQTT broker: closed the connection of ${socket.remoteAddress ?? 'unknown'}: a packet of ${announced} bytes is above ${limit} (MQTT.MaxPayloadBytes and the packet's envelope)`);
    });
    broker.handle(connection);
  };
  if (options.listener) return started(options.listener.port, () => options.listener!.close());
  const server: Server = createServer({ noDelay: true }, accept);
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
  return started((server.address() as AddressInfo).port, () => new Promise<void>((resolve) => server.close(() => resolve())));

  function started(port: number, closeListener: () => Promise<void>): EmbeddedBroker {
    options.listener?.accept(accept);
    return {
      url: `mqtt://${connectHost(options.host)}:${port}`,
      port,
      async disconnectUser(user: string) {
        const closing: Array<Promise<void>> = [];
        for (const client of Object.values(internals.clients)) {
          const identity = identities.get(client);
          if (identity && ownerOf(identity) === user) closing.push(new Promise<void>((resolve) => client.close(() => resolve())));
        }
        await Promise.all(closing);
        for (const clientId of clientIds.heldBy(user)) {
          await sessions.endSession(clientId);
          clientIds.release(clientId);
        }
      },
      async close() {
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await closeListener();
      },
    };
  }
}

function refused(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function remoteAddress(client: Client): string {
  const conn = client.conn as { remoteAddress?: string };
  return conn.remoteAddress ?? 'unknown';
}
