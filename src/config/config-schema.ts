import { z } from 'zod';
import { parsePosixTimezoneOffset } from '../supervisor/schedule/time-text.js';

export const LOG_LEVELS = ['DEBUG', 'INFO', 'NOTICE', 'WARN', 'ERROR'] as const;
export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;
export const DEFAULT_AUDIENCE = ['appmesh-service', 'appmesh-file-service', 'your-service-api'];

const MiB = 1024 * 1024;
const MAX_ID = 2 ** 31 - 2;

/*
 * Strict: an unknown key, a value of the wrong type or out of its range is refused with the key's
 * name, never replaced by a default. Every key carries a description: the example configuration
 * (docs/config.example.yaml) is generated from them.
 */
const int = (min: number, max: number = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
/** A port to listen on; 0 (any free port) only where a caller reads the bound port back. */
const port = (min: 0 | 1) => int(min, 65535);

// `host:port` as X-Target-Host names a node: a node written otherwise could never be relayed to.
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253}):(\d{1,5})$/;
const hostPort = z.string().refine((node) => {
  const match = HOST_PORT.exec(node.trim());
  return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65535;
}, { message: 'expected host:port (port 1 to 65535)' });

const BROKER_SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:'];
const brokerUrl = z.string().refine((url) => {
  if (url.trim() === '') return true;
  try {
    return BROKER_SCHEMES.includes(new URL(url).protocol);
  } catch {
    return false;
  }
}, { message: `expected empty (the embedded broker) or a URL of scheme ${BROKER_SCHEMES.map((scheme) => scheme.slice(0, -1)).join(', ')}` });

const logLevel = z
  .string()
  .transform((s) => s.trim().toUpperCase())
  .pipe(z.enum(LOG_LEVELS, { error: `Invalid LogLevel, expected one of ${LOG_LEVELS.join(', ')}` }));

const jwtAlgorithm = z
  .string()
  .transform((s) => (s.trim() === '' ? 'HS256' : s.trim().toUpperCase()))
  .pipe(z.enum(JWT_ALGORITHMS, { error: 'Invalid JWT Algorithm' }));

const baseConfigSchema = z
  .strictObject({
    Description: z.string().default('').describe('Free text about this host, reported as host_description by GET /appmesh/resources.'),
    DefaultExecUser: z.string().default('').describe('OS account that runs the work of users without an exec_user of their own; empty: each user its own identity (root daemon) or the daemon\'s account.'),
    DisableExecUser: z.boolean().default(false).describe('true: everything runs as the daemon\'s own account, whatever exec_user says.'),
    ScheduleIntervalSeconds: int(1, 100).default(1).describe('Scheduler tick: how often health checks, periodic starts and time windows are looked at.'),
    WorkingDirectory: z.string().default('').describe('Folder of captured output, default working directories and users\' homes; empty: work/ in the home folder. Relative paths are read from the home folder.'),
    LogLevel: logLevel.default('INFO').describe(`Daemon log level: ${LOG_LEVELS.join(', ')} (any case).`),
    PosixTimezone: z
      .string()
      .refine((tz) => tz.trim() === '' || parsePosixTimezoneOffset(tz) !== undefined, { message: 'expected an offset such as +08, -05:30, +0800 or Z' })
      .default('')
      .describe('Fixed UTC offset of *_TEXT times, e.g. +08, -05:30 or Z; empty: the host\'s local zone.'),
    DefaultAppPermission: int(11, 33)
      .refine((acl) => [acl % 10, Math.floor(acl / 10)].every((digit) => digit >= 1 && digit <= 3), { message: 'each digit must be 1 (deny), 2 (read) or 3 (read and write)' })
      .default(11)
      .describe('ACL of apps and runs that set none (tens: other groups, units: owner\'s group; 1 deny, 2 read, 3 read+write). 11: owner and admin only; 33: App Mesh\'s open default.'),
    DynamicUserIdMin: int(1000, MAX_ID).default(61184).describe('Root daemon: lowest uid (gid = uid) given to a user as its own OS identity; never reused.'),
    DynamicUserIdMax: int(1000, MAX_ID).default(65519).describe('Root daemon: highest uid of the users\' own OS identities.'),
    DefaultSandbox: z.enum(['none', 'isolated']).default('none').describe('Sandbox of apps and runs whose app and owner name none: none, or isolated (bubblewrap).'),
    LogFile: z.string().default('').describe('File the daemon also writes its log lines to (mode 0600), rotated by size; relative paths are read from the home folder; empty: none (appmesh.log in the home folder once the console is gone).'),
    LogFileMaxBytes: int(4096).default(10 * MiB).describe('Size at which LogFile rotates.'),
    LogFiles: int(1, 100).default(5).describe('Log files kept, the current one included (LogFile, LogFile.1 ...).'),
    LogFormat: z.enum(['text', 'json']).default('text').describe('Log lines as text, or as JSON lines {time, level, message} (console and file).'),
  })
  .refine((base) => base.DynamicUserIdMin <= base.DynamicUserIdMax, {
    path: ['DynamicUserIdMax'],
    message: 'must not be below DynamicUserIdMin',
  });

const jwtSchema = z.strictObject({
  JWTSalt: z.string().default('').describe('HS256 signing secret; generated at first start. Nodes of a cluster share it.'),
  Algorithm: jwtAlgorithm.default('HS256').describe(`Token signature: ${JWT_ALGORITHMS.join(', ')} (RS256/ES256 keys are kept in ssl/ of the home folder); empty: HS256.`),
  Issuer: z.string().default('').describe('iss of issued tokens; empty: the host name.'),
  Audience: z.array(z.string()).min(1).default(() => [...DEFAULT_AUDIENCE]).describe('Audiences a token may be issued for (X-Audience at login); at least one.'),
  SecurityInterface: z
    .enum(['local'], { error: 'only local is supported (users and roles in config/security.yaml); oauth2, consul and ldap back-ends are not provided' })
    .default('local')
    .describe('Where users and roles come from: local (config/security.yaml), the only back-end provided.'),
});

const sslSchema = z.strictObject({
  SSLCaPath: z.string().default('ssl/ca.pem').describe('CA that signs client certificates (VerifyClient) and the certificates of cluster nodes requests are relayed to. Relative paths are read from the home folder.'),
  SSLCertificateFile: z.string().default('').describe('Server certificate (PEM); with SSLCertificateKeyFile the REST listener serves HTTPS only. Empty: plain HTTP.'),
  SSLCertificateKeyFile: z.string().default('').describe('Private key of SSLCertificateFile (PEM).'),
  SSLClientCertificateFile: z.string().default('ssl/client.pem').describe('Certificate this daemon presents when it relays a request to a cluster node over TLS (used when the file exists, with its key).'),
  SSLClientCertificateKeyFile: z.string().default('ssl/client-key.pem').describe('Private key of SSLClientCertificateFile.'),
  VerifyClient: z.boolean().default(false).describe('Mutual TLS: every client must present a certificate signed by SSLCaPath, or the TLS handshake is refused. Needs HTTPS.'),
  VerifyServer: z.boolean().default(false).describe('Told to clients: SDKs read it to decide whether to verify this daemon\'s certificate.'),
});

const restSchema = z.strictObject({
  RestEnabled: z.boolean().default(true).describe('false: no REST listener (and so no /mcp); MQTT and the in-process MCP stdio server still serve the API.'),
  RestListenAddress: z.string().default('127.0.0.1').describe('Address the REST listener binds to (0.0.0.0: every interface).'),
  RestListenPort: port(1).default(6060).describe('Port of the REST listener (REST, /mcp, /metrics).'),
  RestTcpPort: port(0).default(6059).describe('Port of the TCP transport (msgpack messages, event subscriptions) on RestListenAddress; TLS with REST.SSL\'s certificate; 0: off.'),
  WebSocketPort: port(0).default(6058).describe('Port of the WebSocket transport (subprotocol appmesh-ws, msgpack messages, event subscriptions) on RestListenAddress; 0: off.'),
  PrometheusExporterListenPort: z
    .union([z.literal(0), port(1)])
    .default(0)
    .describe('Plain-HTTP listener (no TLS, no token) serving only GET /metrics on RestListenAddress; 0: off.'),
  PasswordComplexityEnabled: z.boolean().default(false).describe('New passwords need 8 or more characters with an upper-case and a lower-case letter, a digit and a special character.'),
  CorsDisabled: z.boolean().default(false).describe('true: no CORS headers on REST replies.'),
  CsrfAllowedOrigins: z.array(z.string()).default(() => []).describe('Origins (besides the daemon\'s own) whose cookie-authenticated requests are accepted.'),
  AllowedHosts: z.array(z.string()).default(() => []).describe('Host names (besides localhost, loopback addresses and the listen address) that /mcp and the OAuth bridge answer to.'),
  FileAllowedBaseDir: z.string().default('').describe('Uploads and downloads only below this folder (symlinks resolved); empty: anywhere outside system folders and the daemon\'s own.'),
  ClusterNodes: z.array(hostPort).default(() => []).describe('Daemons X-Target-Host may relay to (host:port, sharing this one\'s JWT key); empty: relaying is off.'),
  ForwardTimeoutSeconds: int(1, 3600).default(30).describe('A relayed request whose node has not answered (headers, then each read) within this gets a 504.'),
  JWT: jwtSchema.prefault({}),
  SSL: sslSchema.prefault({}),
});

// Our own section: resource limits the original daemon hard-codes or lacks.
const limitsSchema = z.strictObject({
  MaxOutputBytesPerRun: int(1).default(100 * MiB).describe('Above it a run\'s output file starts over, keeping the newest output.'),
  KillGraceSeconds: int(0, 60).default(3).describe('Time between SIGTERM and SIGKILL when stopping a process tree.'),
  MaxConcurrentRuns: int(1).default(256).describe('run/syncrun processes at once, all users together (503 beyond).'),
  RequestBodyLimitBytes: int(1).default(4 * MiB).describe('Largest request body (413 beyond); uploads have MaxUploadBytes.'),
  WorkspaceIdleSeconds: int(1).default(24 * 3600).describe('Agent workspaces unused for this long are removed.'),
  MaxUploadBytes: int(1).default(2048 * MiB).describe('Largest file accepted by /appmesh/file/upload (streamed, never held in memory).'),
  MaxProcessesPerUser: int(1).default(1024).describe('Per user (a parent cgroup per user): processes of all its apps and runs together.'),
  MaxMemoryPerUserMB: int(0).default(0).describe('Per user: memory of all its process trees together; 0: 80 % of the host\'s memory.'),
  MaxRunsPerUser: int(1).default(32).describe('Per user: concurrent runs (429 beyond).'),
  MaxAppsPerUser: int(1).default(256).describe('Per user: registered apps (429 beyond).'),
  MaxMcpSessionsPerUser: int(1).default(32).describe('Per user: open MCP sessions (429 beyond).'),
  MaxSubscriptionsPerUser: int(1).default(64).describe('Per user: event subscriptions (429 beyond).'),
  MaxUnreadEventBytes: int(4096).default(8 * MiB).describe('Per TCP or WebSocket connection: events written but not yet read by the peer; beyond, the connection is closed as a slow consumer.'),
  MaxWorkspacesPerUser: int(1).default(32).describe('Per user: agent workspaces (429 beyond).'),
  AuditLogMaxBytes: int(4096).default(10 * MiB).describe('Size at which audit.log rotates.'),
  AuditLogFiles: int(1, 100).default(5).describe('Audit files kept, the current one included (audit.log, audit.log.1 ...).'),
  MaxConnections: int(1)
    .default(4096)
    .describe('Open connections on the REST listener (kept below the process\'s open-file limit); beyond, the oldest one not being answered is closed.'),
  MaxConnectionsPerAddress: int(1).default(256).describe('Open connections from one client address; beyond, its new connections are closed at once.'),
  HeadersTimeoutSeconds: int(1).default(30).describe('Time a client has to send a request\'s headers.'),
  RequestTimeoutSeconds: int(1).default(30).describe('A request body that brings less than MinRequestBytesPerSecond over this window is cut (idleness, never total duration).'),
  MinRequestBytesPerSecond: int(1).default(128).describe('The body rate a request must keep up over RequestTimeoutSeconds.'),
});

// The MQTT face (bridges/mqtt): broker, topics and the bounds of the bridge.
const mqttSchema = z.strictObject({
  Enabled: z.boolean().default(true).describe('The MQTT face on or off.'),
  BrokerUrl: brokerUrl.default('').describe('Empty: the daemon runs its own (embedded) broker. Else e.g. mqtt://host:1883, mqtts://host:8883.'),
  EmbeddedBrokerAddress: z.string().default('127.0.0.1').describe('Embedded broker: address it listens on.'),
  EmbeddedBrokerPort: port(0).default(1883).describe('Embedded broker: port it listens on (0: any free port).'),
  NodeId: z.string().default('').describe('This daemon\'s level in the topics (<TopicPrefix>/<NodeId>/...); empty: the host name.'),
  TopicPrefix: z.string().default('appmesh').describe('First level of this daemon\'s topics.'),
  ProtocolVersion: z
    .union([z.literal(4), z.literal(5)])
    .default(5)
    .describe('External broker: 5 (replies by response topic and correlation data) or 4 (MQTT 3.1.1). The embedded broker speaks 3.1.1 only.'),
  Username: z.string().default('').describe('External broker: user name of the bridge.'),
  Password: z.string().default('').describe('External broker: password of the bridge.'),
  CaFile: z.string().default('').describe('External broker: CA of its certificate (mqtts).'),
  CertFile: z.string().default('').describe('External broker: client certificate of the bridge.'),
  KeyFile: z.string().default('').describe('External broker: key of CertFile.'),
  AllowAnonymous: z.boolean().default(false).describe('Embedded broker: accept clients without credentials (they may only use shared topics).'),
  FleetUsers: z.array(z.string()).default(() => ['admin']).describe('Embedded broker: users that may act as the bridge of another node (its requests, replies, events).'),
  MaxPayloadBytes: int(1).default(MiB).describe('Largest request payload of the bridge (413 reply beyond).'),
  MaxQueuedRequests: int(1).default(64).describe('Requests being served at once; one more gets a 503 reply.'),
  RequestTimeoutSeconds: int(1).default(300).describe('A request not answered within this gets a 504 reply.'),
  SharedTopics: z.array(z.string()).default(() => []).describe('Embedded broker: topic filters outside TopicPrefix every user may use; elsewhere a user has only users/<name>/#.'),
  MaxRetainedPerUser: int(0).default(100).describe('Embedded broker: retained messages one user may hold.'),
  MaxRetainedBytesPerUser: int(0).default(MiB).describe('Embedded broker: payload bytes of one user\'s retained messages together.'),
  MaxQueuedPerClient: int(1).default(1000).describe('Embedded broker: QoS 1/2 messages held for one client (unacknowledged, or waiting for a kept session); more are dropped.'),
  MaxQueuedBytesPerClient: int(1).default(16 * MiB).describe('Embedded broker: bytes of the messages held for one client.'),
  MaxClientIdsPerUser: int(1).default(32).describe('Embedded broker: client ids one user holds at once (connections and kept sessions).'),
  TelemetryTopics: z.array(z.string()).default(() => ['devices/temperature']).describe('The original\'s telemetry intake: payloads on these topics become tasks of TelemetryApp.'),
  TelemetryApp: z.string().default('pytask').describe('App whose tasks the telemetry payloads become.'),
  TelemetryTimeoutSeconds: int(1).default(300).describe('Time a telemetry task may take.'),
  TelemetryUser: z.string().default('').describe('User the telemetry intake acts as; empty: the intake is off.'),
  TelemetryPassword: z.string().default('').describe('Password of TelemetryUser.'),
});

// Our own section: the MCP face (tools for LLM agents) on the REST listener.
const mcpSchema = z.strictObject({
  Enabled: z.boolean().default(true).describe('Serve MCP at /mcp with its OAuth bridge.'),
  MaxOAuthClients: int(1).default(1000).describe('OAuth clients registered at once; beyond, registration answers 503 (no client is evicted).'),
});

export const configDocumentSchema = z.strictObject({
  BaseConfig: baseConfigSchema.prefault({}),
  REST: restSchema.prefault({}),
  Labels: z.record(z.string(), z.string()).default(() => ({})).describe('Free labels of this host (HOST_NAME, arch and os_version are set by the daemon).'),
  Version: z.string().default('2.2.1').describe('App Mesh API version the SDKs compare against; read-only.'),
  Limits: limitsSchema.prefault({}),
  MCP: mcpSchema.prefault({}),
  MQTT: mqttSchema.prefault({}),
});

export type ConfigDocument = z.infer<typeof configDocumentSchema>;
