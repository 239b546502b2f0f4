import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Authorizer } from '../../src/service/authorize.js';
import type { Core } from '../../src/service/core.js';
import type { Supervisor } from '../../src/supervisor/supervisor.js';
import type { EventSubscriptions } from '../../src/transport/event-subscriptions.js';
import type { Logger } from '../../src/util/log.js';
import { BrokerAcl } from './broker-acl.js';
import { BRIDGE_USERNAME, bridgeClientId, brokerAuthenticator, coreAppAccess } from './broker-auth.js';
import { MqttBridge, redact } from './bridge.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';
import { brokerListenFailure, type BrokerListener } from './on-demand.js';
import { ParityIntake } from './parity-intake.js';
import { RequestOrigins } from './request-origins.js';
import { resolveMqttSettings, type MqttSettings } from './settings.js';
import { topicMatches, Topics } from './topics.js';

export interface MqttFace {
  /** The broker the bridge uses (for the embedded one, with the port actually bound). */
  readonly url: string;
  readonly embedded: boolean;
  readonly nodeId: string;
  readonly topics: Topics;
  close(): Promise<void>;
}

export interface MqttFaceOptions {
  core: Core;
  rest: FastifyInstance;
  supervisor: Supervisor;
  /** The core's authorizer: the broker asks it synchronously at each event delivery. */
  authorizer: Authorizer;
  home: string;
  log: Logger;
  /** The core's one event subscription registry. */
  subscriptions: EventSubscriptions;
  /** The embedded broker's port, already bound (the face started at its first connection). */
  listener?: BrokerListener;
}

/**
 * Starts the MQTT face: the embedded broker unless MQTT.BrokerUrl names one, then the bridge.
 * Never fails the daemon: a problem is logged once and MQTT stays off while REST serves on.
 */
export async function startMqttFace({ core, rest, supervisor, authorizer, home, log, subscriptions, listener }: MqttFaceOptions): Promise<MqttFace | undefined> {
  if (!core.config().MQTT.Enabled) return undefined;
  let settings: MqttSettings;
  let tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  try {
    settings = resolveMqttSettings(core.config().MQTT, home);
    tls = {
      ...(settings.CaFile ? { ca: readFileSync(settings.CaFile) } : {}),
      ...(settings.CertFile ? { cert: readFileSync(settings.CertFile) } : {}),
      ...(settings.KeyFile ? { key: readFileSync(settings.KeyFile) } : {}),
    };
  } catch (error) {
    log.error(`MQTT is off: ${(error as Error).message}`);
    return undefined;
  }
  const topics = new Topics(settings.TopicPrefix, settings.NodeId);
  const mqttConfig = () => core.config().MQTT;
  // One payload limit, read at each use: the broker's packet bound and the bridge's check agree
  // even after the administrator changes it.
  const maxPayloadBytes = () => mqttConfig().MaxPayloadBytes;
  const servedByBridge = (topic: string) => topic === topics.request || topics.taskApp(topic) !== undefined || settings.TelemetryTopics.some((filter) => topicMatches(filter, topic));

  let broker: EmbeddedBroker | undefined;
  const origins = new RequestOrigins();
  const bridgeSecret = randomBytes(32).toString('base64url');
  if (!settings.BrokerUrl) {
    // The intake's topics are where devices publish: shared by design.
    const acl = new BrokerAcl(topics, coreAppAccess(core, authorizer, supervisor), () => [...mqttConfig().SharedTopics, ...mqttConfig().TelemetryTopics]);
    try {
      broker = await startEmbeddedBroker({
        host: settings.EmbeddedBrokerAddress,
        port: settings.EmbeddedBrokerPort,
        acl,
        limits: () => {
          const config = mqttConfig();
          return {
            maxPayloadBytes: config.MaxPayloadBytes,
            maxRetainedPerUser: config.MaxRetainedPerUser,
            maxRetainedBytesPerUser: config.MaxRetainedBytesPerUser,
            maxQueuedPerClient: config.MaxQueuedPerClient,
            maxQueuedBytesPerClient: config.MaxQueuedBytesPerClient,
            maxClientIdsPerUser: config.MaxClientIdsPerUser,
          };
        },
        published: (topic, payload, address) => {
          if (servedByBridge(topic)) origins.note(topic, payload, address);
        },
        authenticate: brokerAuthenticator(core, {
          node: settings.NodeId,
          allowAnonymous: () => mqttConfig().AllowAnonymous,
          fleetUsers: () => mqttConfig().FleetUsers,
          bridgeSecret: Buffer.from(bridgeSecret),
        }),
        warn: (message) => log.warn(message),
        listener,
      });
    } catch (error) {
      log.error(listener ? `MQTT is off: the embedded broker cannot start: ${(error as Error).message}` : brokerListenFailure(settings, error));
      return undefined;
    }
  }

  const parity = new ParityIntake(core, {
    topics: settings.TelemetryTopics,
    app: settings.TelemetryApp,
    timeoutSeconds: settings.TelemetryTimeoutSeconds,
    user: settings.TelemetryUser,
    password: settings.TelemetryPassword,
  }, log);
  let bridge: MqttBridge;
  try {
    bridge = await MqttBridge.start({
      brokerUrl: broker?.url ?? settings.BrokerUrl,
      // aedes speaks MQTT 3.1.1 only.
      protocolVersion: broker ? 4 : settings.ProtocolVersion,
      clientId: bridgeClientId(settings.NodeId),
      ...(broker ? { username: BRIDGE_USERNAME, password: bridgeSecret } : { username: settings.Username || undefined, password: settings.Password || undefined }),
      tls: broker ? undefined : tls,
      persistentSession: !broker,
      topics,
      limits: () => ({
        maxPayloadBytes: maxPayloadBytes(),
        maxQueuedRequests: mqttConfig().MaxQueuedRequests,
        requestTimeoutSeconds: mqttConfig().RequestTimeoutSeconds,
      }),
      rest,
      core,
      events: supervisor.events,
      stdoutInterest: supervisor.stdoutInterest,
      subscriptions,
      parity: parity.topics.length ? parity : undefined,
      publisherAddress: broker ? (topic, payload) => origins.take(topic, payload) : undefined,
      log,
      connectWaitMs: broker ? 10_000 : 5_000,
    });
  } catch (error) {
    log.error(`MQTT is off: the bridge cannot start on ${redact(broker?.url ?? settings.BrokerUrl)}: ${(error as Error).message}`);
    await broker?.close();
    return undefined;
  }
  const url = broker?.url ?? redact(settings.BrokerUrl);
  if (broker && !listener) log.info(`MQTT embedded broker listening on ${broker.url}`);
  // A user locked, deleted or given a new password loses its connections and kept sessions.
  const embedded = broker;
  const onRevoked = (user: string) => {
    embedded?.disconnectUser(user).catch((error: Error) => log.warn(`MQTT broker: disconnecting ${user} failed: ${error.message}`));
  };
  core.users.revocations.on('revoked', onRevoked);
  return {
    url,
    embedded: Boolean(broker),
    nodeId: settings.NodeId,
    topics,
    async close() {
      core.users.revocations.off('revoked', onRevoked);
      await bridge.close();
      await broker?.close();
    },
  };
}
