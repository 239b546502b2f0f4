import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { MqttFace, MqttFaceOptions } from './index.js';
import { resolveMqttSettings, type MqttSettings } from './settings.js';
import { Topics } from './topics.js';

/**
 * Where the embedded broker takes its connections from: a port bound before the broker exists.
 * `accept` hands every later connection to the broker.
 */
export interface BrokerListener {
  readonly port: number;
  accept(handler: (socket: Socket) => void): void;
  close(): Promise<void>;
}

/**
 * Starts the MQTT face. With the embedded broker, only its port is bound now: the broker and the
 * bridge (the MQTT client and broker libraries, several MiB of memory) load at the first
 * connection, which waits for them. Until a device connects, nobody can publish a request or
 * receive an event, so nothing is lost. An external broker (MQTT.BrokerUrl) gets its bridge at
 * once: requests may already be waiting there.
 */
export async function startMqttFaceOnDemand(options: MqttFaceOptions): Promise<MqttFace | undefined> {
  const { core, home, log } = options;
  if (!core.config().MQTT.Enabled) return undefined;
  let settings: MqttSettings;
  try {
    settings = resolveMqttSettings(core.config().MQTT, home);
  } catch (error) {
    log.error(`MQTT is off: ${(error as Error).message}`);
    return undefined;
  }
  if (settings.BrokerUrl) return (await import('./index.js')).startMqttFace(options);

  let listener: OnDemandListener;
  try {
    listener = await OnDemandListener.listen(settings.EmbeddedBrokerAddress, settings.EmbeddedBrokerPort);
  } catch (error) {
    log.error(brokerListenFailure(settings, error));
    return undefined;
  }
  const url = `mqtt://${connectHost(settings.EmbeddedBrokerAddress)}:${listener.port}`;
  log.info(`MQTT embedded broker listening on ${url} (the broker and the bridge load at the first connection)`);
  let closed = false;
  let started: Promise<MqttFace | undefined> | undefined;
  listener.onFirstConnection(() => {
    started = (async () => {
      const face = await (await import('./index.js')).startMqttFace({ ...options, listener });
      if (!face) await listener.close();
      else if (closed) {
        // Closed meanwhile: the face that just started goes too (once: close() finds nothing left).
        await face.close();
        return undefined;
      } else listener.release();
      return face;
    })().catch(async (error: unknown) => {
      log.error(`MQTT is off: ${(error as Error).message}`);
      await listener.close();
      return undefined;
    });
  });
  return {
    url,
    embedded: true,
    nodeId: settings.NodeId,
    topics: new Topics(settings.TopicPrefix, settings.NodeId),
    async close() {
      closed = true;
      const face = started ? await started : undefined;
      if (face) await face.close();
      else await listener.close();
    },
  };
}

/** The one message for an embedded broker that cannot bind its port. */
export function brokerListenFailure(settings: Pick<MqttSettings, 'EmbeddedBrokerAddress' | 'EmbeddedBrokerPort'>, error: unknown): string {
  const where = `${settings.EmbeddedBrokerAddress}:${settings.EmbeddedBrokerPort}`;
  const reason = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the port is in use' : (error as Error).message;
  return `MQTT is off: the embedded broker cannot listen on ${where} (${reason}); set MQTT.EmbeddedBrokerPort (APPMESH_MQTT_EmbeddedBrokerPort) or MQTT.BrokerUrl. REST serves on.`;
}

/** A wildcard listen address is reached on loopback. */
export function connectHost(host: string): string {
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * A bound port that holds its first connections (paused) until the broker is there: the broker's
 * handler takes new connections from `accept` on (the bridge's own among them), and the held ones
 * once the bridge is up (`release`), so a device's first request finds the bridge subscribed.
 */
class OnDemandListener implements BrokerListener {
  private handler: ((socket: Socket) => void) | undefined;
  private held: Socket[] = [];
  private first: (() => void) | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('connection', (socket) => this.arrived(socket));
  }

  static async listen(host: string, port: number): Promise<OnDemandListener> {
    // Small request/reply packets: Nagle's algorithm would hold each one back for a delayed ACK.
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new OnDemandListener(server, (server.address() as AddressInfo).port);
  }

  onFirstConnection(start: () => void): void {
    this.first = start;
  }

  accept(handler: (socket: Socket) => void): void {
    this.handler = handler;
  }

  /** The broker's handler gets the connections held meanwhile (those still open). */
  release(): void {
    const held = this.held;
    this.held = [];
    for (const socket of held) {
      if (socket.destroyed) continue;
      socket.resume();
      this.handler?.(socket);
    }
  }

  async close(): Promise<void> {
    for (const socket of this.held) socket.destroy();
    this.held = [];
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private arrived(socket: Socket): void {
    if (this.handler) return this.handler(socket);
    socket.pause();
    // A held connection that fails is dropped; nothing else may crash on its error.
    socket.on('error', () => socket.destroy());
    this.held.push(socket);
    const first = this.first;
    this.first = undefined;
    first?.();
  }
}
