import { z } from 'zod';

export const LOG_LEVELS = ['DEBUG', 'INFO', 'NOTICE', 'WARN', 'ERROR'] as const;
export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;
export const DEFAULT_AUDIENCE = ['appmesh-service', 'appmesh-file-service', 'your-service-api'];

const MiB = 1024 * 1024;

// Ranges are deliberately loose here: out-of-range values in the file are normalised, not refused.
const int = () => z.number().int();
const port = () => z.number().int().min(0).max(65535);

const logLevel = z
  .string()
  .transform((s) => s.trim().toUpperCase())
  .pipe(z.enum(LOG_LEVELS, { error: `Invalid LogLevel, expected one of ${LOG_LEVELS.join(', ')}` }));

const jwtAlgorithm = z
  .string()
  .transform((s) => (s.trim() === '' ? 'HS256' : s.trim().toUpperCase()))
  .pipe(z.enum(JWT_ALGORITHMS, { error: 'Invalid JWT Algorithm' }));

const baseConfigSchema = z.object({
  Description: z.string().default(''),
  DefaultExecUser: z.string().default(''),
  DisableExecUser: z.boolean().default(false),
  ScheduleIntervalSeconds: int().default(1),
  WorkingDirectory: z.string().default(''),
  LogLevel: logLevel.default('INFO'),
  PosixTimezone: z.string().default(''),
  /**
   * ACL of an app or run whose `permission` is unset or 0 (two digits: tens = other groups,
   * units = owner's group; 1 deny, 2 read, 3 read+write). 11: private to its owner and admin;
   * 33 restores the original's open default.
   */
  DefaultAppPermission: int().min(11).max(33).default(11),
  /** Root daemon: users without `exec_user` get a uid/gid of their own from this range (never reused). */
  DynamicUserIdMin: int().min(1000).max(2 ** 31 - 2).default(61184),
  DynamicUserIdMax: int().min(1000).max(2 ** 31 - 2).default(65519),
  /** Filesystem/network sandbox of runs whose app or user names none: `none` or `isolated` (bubblewrap). */
  DefaultSandbox: z.enum(['none', 'isolated']).default('none'),
});

const jwtSchema = z.object({
  JWTSalt: z.string().default(''),
  Algorithm: jwtAlgorithm.default('HS256'),
  Issuer: z.string().default(''),
  Audience: z.array(z.string()).default(() => [...DEFAULT_AUDIENCE]),
  SecurityInterface: z.string().default('local'),
});

const sslSchema = z.object({
  SSLCaPath: z.string().default('ssl/ca.pem'),
  // Empty: plain HTTP. Relative paths are read from the home folder.
  SSLCertificateFile: z.string().default(''),
  SSLCertificateKeyFile: z.string().default(''),
  SSLClientCertificateFile: z.string().default('ssl/client.pem'),
  SSLClientCertificateKeyFile: z.string().default('ssl/client-key.pem'),
  VerifyClient: z.boolean().default(false),
  VerifyServer: z.boolean().default(false),
  VerifyServerDelegate: z.boolean().default(false),
});

const restSchema = z.object({
  RestEnabled: z.boolean().default(true),
  RestListenAddress: z.string().default('127.0.0.1'),
  // Range checked on update and normalised on load (1000–65534), so only the type is enforced here.
  RestListenPort: int().default(6060),
  RestTcpPort: port().default(6059),
  WebSocketPort: port().default(6058),
  PrometheusExporterListenPort: port().default(0),
  WorkerThreadPoolSize: int().default(2),
  IOThreadPoolSize: int().default(2),
  PasswordComplexityEnabled: z.boolean().default(false),
  CorsDisabled: z.boolean().default(false),
  CsrfAllowedOrigins: z.array(z.string()).default(() => []),
  /** Host names (besides localhost, loopback addresses and the listen address) that /mcp and the OAuth bridge answer to. */
  AllowedHosts: z.array(z.string()).default(() => []),
  FileAllowedBaseDir: z.string().default(''),
  /** Daemons `X-Target-Host` may relay to (`host:port`, sharing this one's JWT key); empty: relaying is off. */
  ClusterNodes: z.array(z.string()).default(() => []),
  /** A relayed request whose node has not answered (headers, then each read) within this gets a 504. */
  ForwardTimeoutSeconds: int().min(1).max(3600).default(30),
  JWT: jwtSchema.prefault({}),
  SSL: sslSchema.prefault({}),
});

// Our own section: resource limits the original daemon hard-codes or lacks.
const limitsSchema = z.object({
  /** Above it a run's output file is truncated. */
  MaxOutputBytesPerRun: int().positive().default(100 * MiB),
  /** Time between SIGTERM and SIGKILL when stopping a process tree. */
  KillGraceSeconds: int().min(0).max(60).default(3),
  MaxConcurrentRuns: int().positive().default(256),
  RequestBodyLimitBytes: int().positive().default(4 * MiB),
  /** Agent workspaces unused for this long are removed. */
  WorkspaceIdleSeconds: int().positive().default(24 * 3600),
  /** Largest file accepted by /appmesh/file/upload (streamed, never held in memory). */
  MaxUploadBytes: int().positive().default(2048 * MiB),
  /** Per user (a parent cgroup per user): processes of all its apps and runs together. */
  MaxProcessesPerUser: int().positive().default(1024),
  /** Per user: memory of all its process trees together; 0: 80 % of the host's memory. */
  MaxMemoryPerUserMB: int().min(0).default(0),
  /** Per-user shares of what the daemon holds: one user at its cap gets 429, others keep working. */
  MaxRunsPerUser: int().positive().default(32),
  MaxAppsPerUser: int().positive().default(256),
  MaxMcpSessionsPerUser: int().positive().default(32),
  MaxSubscriptionsPerUser: int().positive().default(64),
  MaxWorkspacesPerUser: int().positive().default(32),
  /** Size at which audit.log rotates. */
  AuditLogMaxBytes: int().min(4096).default(10 * MiB),
  /** Audit files kept, the current one included (audit.log, audit.log.1 …). */
  AuditLogFiles: int().min(1).max(100).default(5),
  /** Open connections on the REST listener (kept below the process's open-file limit); beyond, the heaviest address gives one up or the newcomer is refused. */
  MaxConnections: int().positive().default(4096),
  /** Open connections from one client address; beyond, its new connections are closed at once. */
  MaxConnectionsPerAddress: int().positive().default(256),
  /** Time a client has to send a request's headers. */
  HeadersTimeoutSeconds: int().positive().default(30),
  /** A request body that brings less than MinRequestBytesPerSecond over this window is cut (idleness, never total duration). */
  RequestTimeoutSeconds: int().positive().default(30),
  /** The body rate a request must keep up over RequestTimeoutSeconds. */
  MinRequestBytesPerSecond: int().min(1).default(128),
});

// The MQTT face (bridges/mqtt): broker, topics and the bounds of the bridge.
const mqttSchema = z.object({
  Enabled: z.boolean().default(true),
  /** Empty: the daemon runs its own (embedded) broker. Else e.g. `mqtt://host:1883`, `mqtts://host:8883`. */
  BrokerUrl: z.string().default(''),
  EmbeddedBrokerAddress: z.string().default('127.0.0.1'),
  EmbeddedBrokerPort: port().default(1883),
  /** This daemon's level in the topics; empty: the host name. */
  NodeId: z.string().default(''),
  TopicPrefix: z.string().default('appmesh'),
  /** For an external broker: 5 (replies by response topic and correlation data) or 4 (3.1.1). */
  ProtocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
  Username: z.string().default(''),
  Password: z.string().default(''),
  CaFile: z.string().default(''),
  CertFile: z.string().default(''),
  KeyFile: z.string().default(''),
  /** Embedded broker: accept clients without credentials (they may only use topics outside TopicPrefix). */
  AllowAnonymous: z.boolean().default(false),
  /** Embedded broker: users that may act as the bridge of another node (its requests, replies, events). */
  FleetUsers: z.array(z.string()).default(() => ['admin']),
  MaxPayloadBytes: int().positive().default(MiB),
  /** Requests being served at once; one more gets a 503 reply. */
  MaxQueuedRequests: int().positive().default(64),
  RequestTimeoutSeconds: int().positive().default(300),
  /** Embedded broker: topic filters outside TopicPrefix every user may use; elsewhere a user has only `users/<name>/#`. */
  SharedTopics: z.array(z.string()).default(() => []),
  /** Embedded broker: retained messages one user may hold (count, and their payload bytes together). */
  MaxRetainedPerUser: int().min(0).default(100),
  MaxRetainedBytesPerUser: int().min(0).default(MiB),
  /** Embedded broker: QoS 1/2 messages held for one client (unacknowledged, or waiting for a kept session); more are dropped. */
  MaxQueuedPerClient: int().positive().default(1000),
  MaxQueuedBytesPerClient: int().positive().default(16 * MiB),
  /** Embedded broker: client ids one user holds at once (connections and kept sessions). */
  MaxClientIdsPerUser: int().positive().default(32),
  /** The original's telemetry intake: payloads on these topics become tasks of TelemetryApp. Off while TelemetryUser is empty. */
  TelemetryTopics: z.array(z.string()).default(() => ['devices/temperature']),
  TelemetryApp: z.string().default('pytask'),
  TelemetryTimeoutSeconds: int().positive().default(300),
  TelemetryUser: z.string().default(''),
  TelemetryPassword: z.string().default(''),
});

// Our own section: the MCP face (tools for LLM agents) on the REST listener.
const mcpSchema = z.object({
  /** Serve MCP at /mcp with its OAuth bridge. */
  Enabled: z.boolean().default(true),
  /** OAuth clients registered at once; beyond, registration answers 503 (no client is evicted). */
  MaxOAuthClients: int().positive().default(1000),
});

export const configDocumentSchema = z.object({
  BaseConfig: baseConfigSchema.prefault({}),
  REST: restSchema.prefault({}),
  Labels: z.record(z.string(), z.string()).default(() => ({})),
  // SDKs compare against it; read-only for clients.
  Version: z.string().default('2.2.1'),
  Limits: limitsSchema.prefault({}),
  MCP: mcpSchema.prefault({}),
  MQTT: mqttSchema.prefault({}),
});

export type ConfigDocument = z.infer<typeof configDocumentSchema>;

const inRange = (v: number, min: number, max: number) => Number.isInteger(v) && v >= min && v <= max;

/** Applies the reference's normalisation rules; returns a new document. */
export function normaliseConfig(doc: ConfigDocument): ConfigDocument {
  const out = structuredClone(doc);
  if (!inRange(out.BaseConfig.ScheduleIntervalSeconds, 1, 100)) out.BaseConfig.ScheduleIntervalSeconds = 2;
  if (!inRange(out.REST.RestListenPort, 1000, 65534)) out.REST.RestListenPort = 6060;
  if (!inRange(out.REST.WorkerThreadPoolSize, 1, 99)) out.REST.WorkerThreadPoolSize = 2;
  if (!inRange(out.REST.IOThreadPoolSize, 1, 99)) out.REST.IOThreadPoolSize = 2;
  if (out.REST.JWT.Audience.length === 0) out.REST.JWT.Audience = ['appmesh-service'];
  return out;
}
