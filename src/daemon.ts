import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { effectiveConfig, loadConfig, saveConfig, useConfigFile } from './config/config-file.js';
import type { ConfigDocument } from './config/config-schema.js';
import { hashPassword, randomPassword } from './auth/password.js';
import { SecretBox } from './auth/secret-box.js';
import { SecurityStore } from './auth/security-store.js';
import { FILE_AUDIENCE, TokenService } from './auth/token-service.js';
import { TokenBlacklist } from './auth/token-blacklist.js';
import { LoginThrottle } from './auth/login-throttle.js';
import { resolveExecIdentity } from './auth/exec-user.js';
import { DEFAULT_BWRAP_PATH } from './containment/sandbox.js';
import { SandboxPolicy } from './containment/sandbox-policy.js';
import { OsIdentities } from './auth/os-identities.js';
import { runningAsRoot } from './auth/os-user.js';
import { assertPrivateFolder } from './store/private-folder.js';
import type { InstanceLock } from './store/instance-lock.js';
import { defaultHome, lockHome } from './store/home.js';
import { AuditLog } from './audit/audit-log.js';
import { UserService } from './service/user-service.js';
import { FileService } from './files/file-service.js';
import { TaskService } from './service/task-service.js';
import { WorkspaceService } from './service/workspace-service.js';
import { ConfigService } from './service/config-service.js';
import { ObservabilityService } from './service/observability-service.js';
import { DaemonMetrics } from './observability/metrics.js';
import { buildVersion } from './observability/build-info.js';
import { writeFileAtomic } from './store/atomic-file.js';
import { AppStore } from './store/app-store.js';
import { Supervisor } from './supervisor/supervisor.js';
import type { AppEvent } from './supervisor/events.js';
import { Containment } from './containment/containment.js';
import { parsePosixTimezoneOffset } from './supervisor/schedule/time-text.js';
import { AppService } from './service/app-service.js';
import { AuthService } from './service/auth-service.js';
import { Authorizer } from './service/authorize.js';
import { UserShares } from './service/user-shares.js';
import { RelayService } from './service/relay-service.js';
import type { Core } from './service/core.js';
import { buildRestServer } from './rest/server.js';
import { tlsFiles, type TlsFiles } from './config/tls-files.js';
import { listenError } from './config/listen-error.js';
import { startMetricsExporter, type MetricsExporter } from './observability/metrics-exporter.js';
import { mountMcp } from '../tools/mount.js';
import type { MqttFace } from '../bridges/mqtt/index.js';
import { EventSubscriptions, type MayRead } from './transport/event-subscriptions.js';
import type { AppDefinition } from './supervisor/app-definition.js';
import type { Principal } from './auth/principal.js';
import type { TcpFace } from './transport/tcp/tcp-face.js';
import type { WebSocketFace } from './transport/websocket/websocket-face.js';
import { Logger } from './util/log.js';

export interface DaemonOptions {
  /** Folder of all state; default `$APPMESH_HOME`, else `~/.appmesh`. */
  home?: string;
  env?: NodeJS.ProcessEnv;
  /** Overrides the configured REST port (0 = any free port; used by tests and benchmarks). */
  port?: number;
  /**
   * Overrides REST.RestTcpPort (0 = any free port). A daemon given `port` opens the TCP transport
   * only when given this too: tests and benchmarks run many daemons at once.
   */
  tcpPort?: number;
  /** Overrides REST.WebSocketPort the same way. */
  webSocketPort?: number;
  /** False: build everything but do not listen (the in-process MCP stdio server). */
  listen?: boolean;
  /** Where the one-time first-start message goes (default stdout; stdio servers use stderr). */
  announce?: (text: string) => void;
  logger?: Logger;
  /** A configuration file to read and save instead of `<home>/config/config.yaml`. */
  configFile?: string;
  /** The lock on `home`, already taken (`lockHome`): the daemon's command takes it while the daemon's modules load. */
  lock?: InstanceLock;
}

export interface Daemon {
  readonly home: string;
  /** Base URL of the REST listener, e.g. `http://127.0.0.1:6060`. */
  readonly url: string;
  readonly core: Core;
  readonly supervisor: Supervisor;
  /** The REST pipeline; other faces serve their requests through it (`inject`). */
  readonly rest: FastifyInstance;
  /** The MQTT face when enabled and started: broker URL (the bound port), node id, topics. */
  readonly mqtt: MqttFace | undefined;
  /** The TCP transport when on and listening (its bound port). */
  readonly tcp: TcpFace | undefined;
  /** The WebSocket transport when on and listening. */
  readonly webSocket: WebSocketFace | undefined;
  close(): Promise<void>;
}

export { defaultHome };

/** Wires config → store → core → faces, and starts listening. */
export async function startDaemon(options: DaemonOptions = {}): Promise<Daemon> {
  const env = options.env ?? process.env;
  const home = resolve(options.home ?? defaultHome(env));
  const log = options.logger ?? new Logger();
  // One daemon per home, held until close (or the end of the process); a failed start lets it go.
  const lock = options.lock ?? (await lockHome(home, (message) => log.warn(message)));
  try {
    useConfigFile(home, options.configFile && resolve(options.configFile));
    const daemon = await startOnLockedHome(home, env, log, options);
    const close = daemon.close.bind(daemon);
    return Object.assign(daemon, { close: () => close().finally(() => lock.release()) });
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startOnLockedHome(home: string, env: NodeJS.ProcessEnv, log: Logger, options: DaemonOptions): Promise<Daemon> {
  // A first start hashes the administrator's password meanwhile (no side effect until it is stored).
  const firstAdmin = existsSync(securityFile(home)) ? undefined : firstAdminCredentials(env);
  firstAdmin?.hash.catch(() => undefined);
  let { stored, effective, warnings } = await loadConfig(home, env);
  let saltSaved: Promise<void> = Promise.resolve();
  if (!stored.REST.JWT.JWTSalt) {
    // Never a shipped constant: every installation signs with its own secret. Written while the
    // rest starts; awaited before the listener opens, so no token is signed with an unsaved secret.
    stored = { ...stored, REST: { ...stored.REST, JWT: { ...stored.REST.JWT, JWTSalt: randomBytes(48).toString('base64url') } } };
    saltSaved = saveConfig(home, stored);
    saltSaved.catch(() => undefined);
    effective = effectiveConfig(stored, env);
  }
  log.setLevel(effective.BaseConfig.LogLevel);
  for (const warning of warnings) log.warn(warning);

  // Independent files: read (or created, with their fsyncs) side by side.
  const [secrets, security] = await Promise.all([
    loadOrCreateKey(join(home, 'config', 'secret.key')).then((key) => new SecretBox(key)),
    openSecurityStore(home, env, log, options.announce ?? ((text) => process.stdout.write(text)), firstAdmin),
  ]);
  // Its bounds are read at each rotation, so a change applies without a restart (settings is set just below).
  const audit: AuditLog = new AuditLog(join(home, 'audit.log'), {
    maxBytes: (): number => settings.current.Limits.AuditLogMaxBytes,
    files: (): number => settings.current.Limits.AuditLogFiles,
    onError: (error) => log.error(`audit log: ${error.message}`),
  });
  // The default ACL is read at each check, so a change applies at once (settings is set just below).
  const authorizer = new Authorizer(security, { defaultAppPermission: (): number => settings.current.BaseConfig.DefaultAppPermission, audit });
  const settings = new ConfigService(home, env, stored, effective, authorizer, audit, log);
  log.useFiles(home, () => settings.current.BaseConfig);
  // Everything reads the running configuration through this, so updates apply without a restart.
  const config = (): ConfigDocument => settings.current;
  const tokens = await TokenService.create({
    algorithm: config().REST.JWT.Algorithm,
    secret: config().REST.JWT.JWTSalt,
    issuer: config().REST.JWT.Issuer || hostname(),
    keyDir: join(home, 'ssl'),
  });
  const blacklist = await TokenBlacklist.open(join(home, 'config', 'revoked-tokens.bin'), join(home, 'config', 'revoked-tokens.json'));
  const workDir = config().BaseConfig.WorkingDirectory ? resolve(home, config().BaseConfig.WorkingDirectory) : join(home, 'work');
  assertPrivateFolder(workDir, 'BaseConfig.WorkingDirectory');
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  // On a root daemon every user gets an OS identity of its own, with a home below the work folder.
  const identities = runningAsRoot() ? openOsIdentities(home, workDir, config, log) : undefined;
  if (identities) {
    await security.useBeforeSave((doc) => identities.assignMissing(doc));
    void identities.removeStaleHomes(() => new Set(security.userNames().map((name) => security.user(name)?.os_uid ?? 0)));
  }
  const execUserSettings = () => ({
    defaultExecUser: config().BaseConfig.DefaultExecUser,
    disableExecUser: config().BaseConfig.DisableExecUser,
    ownIdentity: (owner: string) => {
      const uid = security.user(owner)?.os_uid;
      return identities && uid !== undefined ? identities.identity(owner, uid) : undefined;
    },
  });
  // The one answer to "which OS account does this user's work run as" (processes, workspaces, files).
  const execIdentity = (owner: string | undefined) => resolveExecIdentity(owner, owner ? security.user(owner)?.exec_user : undefined, execUserSettings());
  // Which starts go into bubblewrap (APPMESH_BWRAP names another binary); runs never see the daemon's folders.
  const sandbox = new SandboxPolicy({
    globalDefault: () => config().BaseConfig.DefaultSandbox,
    userDefault: (owner) => security.user(owner)?.sandbox,
    bwrapPath: env.APPMESH_BWRAP?.trim() || DEFAULT_BWRAP_PATH,
    hiddenDirs: [home, workDir],
  });
  // A cgroup per process tree under a parent per user (APPMESH_CGROUPS=off: process groups only).
  const containment = Containment.open({
    home,
    env,
    limits: { maxProcesses: () => config().Limits.MaxProcessesPerUser, maxMemoryMB: () => config().Limits.MaxMemoryPerUserMB },
    log: (level, message) => log[level](message),
  });
  containment.addReportSection('sandbox', () => sandbox.status());
  const supervisor = new Supervisor(
    {
      outputDir: join(workDir, 'stdout'),
      defaultWorkingDir: join(workDir, 'tmp'),
      scheduleIntervalSeconds: () => config().BaseConfig.ScheduleIntervalSeconds,
      killGraceMs: () => config().Limits.KillGraceSeconds * 1000,
      maxOutputBytes: () => config().Limits.MaxOutputBytesPerRun,
      log: (level, message) => log[level](message),
      execIdentity,
      sandboxArgv: (definition, context) => sandbox.argv(definition.owner, definition, context),
      containment,
      // A record per running process tree: a restart after a crash ends what was left running.
      runRecordsDir: join(home, 'runs'),
    },
    new AppStore(join(home, 'apps'), secrets),
  );
  const shares = new UserShares(() => config().Limits);
  // Its library is loaded by the first scrape, or once many events or requests wait for it.
  const metrics = new DaemonMetrics(supervisor, buildVersion);
  const core: Core = {
    auth: new AuthService(security, tokens, blacklist, new LoginThrottle(), authorizer, audit, { audiences: () => config().REST.JWT.Audience }),
    apps: new AppService(
      supervisor,
      authorizer,
      {
        timezoneOffsetMinutes: () => parsePosixTimezoneOffset(config().BaseConfig.PosixTimezone),
        maxConcurrentRuns: () => config().Limits.MaxConcurrentRuns,
        sandbox,
        shares,
      },
      audit,
    ),
    tasks: new TaskService(supervisor, authorizer, audit),
    workspaces: new WorkspaceService(
      { idleSeconds: () => config().Limits.WorkspaceIdleSeconds, execIdentity, maxPerUser: () => config().Limits.MaxWorkspacesPerUser },
      audit,
    ),
    users: new UserService(security, authorizer, audit, {
      passwordComplexity: () => config().REST.PasswordComplexityEnabled,
      execUser: execUserSettings,
    }),
    files: new FileService(authorizer, audit, {
      rules: () => ({ baseDir: config().REST.FileAllowedBaseDir, daemonHome: home, openInHome: [join(workDir, 'tmp'), ...(identities ? [identities.homesRoot] : [])] }),
      identity: execIdentity,
      maxUploadBytes: () => config().Limits.MaxUploadBytes,
    }),
    config,
    settings,
    shares,
    relay: new RelayService(authorizer, audit, { nodes: () => config().REST.ClusterNodes }),
    observability: new ObservabilityService(metrics, supervisor, authorizer, {
      version: buildVersion,
      home,
      description: () => config().BaseConfig.Description,
      timezoneOffsetMinutes: () => parsePosixTimezoneOffset(config().BaseConfig.PosixTimezone),
    }),
    log,
  };

  // One registry of live event subscriptions for every face that pushes (MQTT, TCP, WebSocket).
  const subscriptions = new EventSubscriptions(eventReader(authorizer, supervisor, security, blacklist));
  const deliverEvent = (event: AppEvent): void => subscriptions.deliver(event);
  supervisor.events.on('event', deliverEvent);
  const wantsStdout = (appName: string): boolean => subscriptions.wants({ app_name: appName, event_type: 'STDOUT' });
  supervisor.stdoutInterest.add(wantsStdout);
  subscriptions.onChange = () => supervisor.stdoutInterestChanged();

  await supervisor.start();
  let rest: FastifyInstance | undefined;
  let exporter: MetricsExporter | undefined;
  let url = '';
  try {
    await saltSaved;
    rest = buildRestServer(core, { bodyLimit: config().Limits.RequestBodyLimitBytes, tls: tlsFiles(home, config()), subscriptions });
    if (config().MCP.Enabled) mountMcp(rest, core, subscriptions);
    const { RestEnabled, RestListenAddress: host, RestListenPort, PrometheusExporterListenPort } = config().REST;
    // REST.RestEnabled false: the pipeline still serves MQTT and in-process MCP, without a listener.
    if (options.listen !== false && RestEnabled) {
      const where = { address: host, port: options.port ?? RestListenPort, addressKey: 'REST.RestListenAddress', portKey: 'REST.RestListenPort' };
      const address = await rest.listen({ host, port: where.port }).catch((error: unknown) => Promise.reject(listenError(error, where)));
      url = address.replace('[::1]', 'localhost');
    } else {
      await rest.ready();
    }
    if (options.listen !== false && PrometheusExporterListenPort) {
      const where = { address: host, port: PrometheusExporterListenPort, addressKey: 'REST.RestListenAddress', portKey: 'REST.PrometheusExporterListenPort' };
      const started = await startMetricsExporter({ ...where, metrics: () => core.observability.metricsText() }).catch((error: unknown) => Promise.reject(listenError(error, where)));
      exporter = started;
      log.info(`Prometheus exporter listening on http://${host}:${started.port}/metrics`);
    }
  } catch (error) {
    await exporter?.close();
    await rest?.close().catch(() => undefined);
    await supervisor.close();
    throw error;
  }
  // The JWT library loads with the first token signed or verified: a daemon nobody logged into
  // does not hold it (about a MiB), and the first login does not wait longer for it (its password
  // hash takes longer). The metric library loads with the first scrape, or once many events or
  // requests wait for it.
  if (url) log.info(`App Mesh TS listening on ${url} (home ${home})`);
  else if (options.listen !== false) log.info(`REST is off (REST.RestEnabled: false), home ${home}`);
  // After REST, whose pipeline serves the bridge's requests; it never fails the start. Loaded only
  // now, so readyz does not wait for it; the embedded broker's libraries load at its first connection.
  const mqtt = options.listen === false || !config().MQTT.Enabled ? undefined : await (await import('../bridges/mqtt/on-demand.js')).startMqttFaceOnDemand({ core, rest, supervisor, authorizer, home, log, subscriptions });

  const tcp = options.listen === false ? undefined : await startTransport('TCP', 'REST.RestTcpPort', options.tcpPort, core.config().REST.RestTcpPort, core, home, options, async (where) => (await import('./transport/tcp/tcp-face.js')).startTcpFace({ core, rest, subscriptions, ...where }));
  const webSocket = options.listen === false ? undefined : await startTransport('WebSocket', 'REST.WebSocketPort', options.webSocketPort, core.config().REST.WebSocketPort, core, home, options, async (where) =>
    (await import('./transport/websocket/websocket-face.js')).startWebSocketFace({
      core,
      rest,
      subscriptions,
      ...where,
      // 30 s for the one transfer the reply announces, valid on the file routes only.
      fileToken: async (principal) => (await tokens.issue(principal.name, security.user(principal.name)?.roles ?? [], FILE_AUDIENCE, 30)).token,
    }),
  );

  return {
    home,
    url,
    core,
    supervisor,
    rest,
    mqtt,
    tcp,
    webSocket,
    async close() {
      await webSocket?.close();
      await tcp?.close();
      supervisor.events.off('event', deliverEvent);
      supervisor.stdoutInterest.delete(wantsStdout);
      await mqtt?.close();
      await exporter?.close();
      core.observability.close();
      await supervisor.close();
      await core.workspaces.close();
      await rest?.close();
      await audit.close();
    },
  };
}

/** A persistent transport (TCP, WebSocket); like MQTT it never fails the start: a port in use is logged and REST serves on. */
async function startTransport<Face extends { port: number }>(
  name: string,
  portKey: string,
  given: number | undefined,
  configured: number,
  core: Core,
  home: string,
  options: DaemonOptions,
  start: (where: { host: string; port: number; tls: TlsFiles | undefined }) => Promise<Face>,
): Promise<Face | undefined> {
  if (given === undefined && (options.port !== undefined || configured === 0)) return undefined;
  const port = given ?? configured;
  const host = core.config().REST.RestListenAddress;
  const tls = tlsFiles(home, core.config());
  // Tokens and passwords travel on it: in clear text only where they never leave the host.
  if (!tls && !isLoopback(host)) {
    core.log.error(`${name} transport is off: without a certificate (REST.SSL) it listens on a loopback address only, not ${host}`);
    return undefined;
  }
  try {
    const face = await start({ host, port, tls });
    core.log.info(`${name} transport listening on ${host}:${face.port}${tls ? ' (TLS)' : ''}`);
    return face;
  } catch (error) {
    core.log.error(`${name} transport is off: ${listenError(error, { address: host, port, addressKey: 'REST.RestListenAddress', portKey }).message}`);
    return undefined;
  }
}

/**
 * Who may read an event now: a subscriber whose token still holds (not expired, revoked, or
 * ended by a password change or lock), with app-subscribe and read access to the event's app (a
 * REMOVED app judged by its last definition).
 */
function eventReader(authorizer: Authorizer, supervisor: Supervisor, security: SecurityStore, blacklist: TokenBlacklist): MayRead {
  const lastSeen = new Map<string, AppDefinition>();
  const tokenHolds = (principal: Principal): boolean => {
    if (principal.expiresAt !== undefined && principal.expiresAt * 1000 <= Date.now()) return false;
    if (principal.tokenId && blacklist.has(principal.tokenId)) return false;
    const user = security.user(principal.name);
    if (!user || user.locked) return false;
    const epochMs = user.token_epoch_ms ?? (user.token_epoch ? user.token_epoch * 1000 + 999 : 0);
    // The principal knows its issue time to the second: ended when surely issued up to the epoch.
    return !epochMs || (principal.issuedAt ?? 0) * 1000 + 999 > epochMs;
  };
  return (principal, event) => {
    if (!tokenHolds(principal)) return false;
    const current = supervisor.get(event.app_name)?.definition;
    if (current) {
      lastSeen.delete(event.app_name);
      lastSeen.set(event.app_name, current);
      // Bounded: only a recently removed app needs its last definition.
      if (lastSeen.size > 4096) lastSeen.delete(lastSeen.keys().next().value!);
    }
    const definition = current ?? lastSeen.get(event.app_name);
    return definition !== undefined && authorizer.hasPermission(principal, 'app-subscribe') && authorizer.canAccess(principal, definition, 'read');
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * The users' homes live in `<work>/users`; the home and work folders become traversable (0711) so
 * each identity reaches its own home, while everything else in them stays 0700/0600.
 */
function openOsIdentities(home: string, workDir: string, config: () => ConfigDocument, log: Logger): OsIdentities {
  for (const folder of new Set([home, workDir])) chmodSync(folder, 0o711);
  return new OsIdentities(join(workDir, 'users'), () => ({ min: config().BaseConfig.DynamicUserIdMin, max: config().BaseConfig.DynamicUserIdMax }), (message) => log.warn(message));
}

async function loadOrCreateKey(file: string): Promise<Buffer> {
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length >= 32) return key;
    throw new Error(`${file} does not hold a valid key`);
  }
  const key = randomBytes(32);
  await writeFileAtomic(file, key.toString('base64'), { mode: 0o600 });
  return key;
}

const securityFile = (home: string) => join(home, 'config', 'security.yaml');

interface AdminCredentials {
  password: string;
  given: boolean;
  hash: Promise<string>;
}

/** The administrator's password comes from the environment, or is generated. */
function firstAdminCredentials(env: NodeJS.ProcessEnv): AdminCredentials {
  const given = env.APPMESH_ADMIN_PASSWORD;
  const password = given || randomPassword();
  return { password, given: Boolean(given), hash: hashPassword(password) };
}

/** First start: creates the store with user admin (`prepared`: credentials hashed ahead). */
async function openSecurityStore(home: string, env: NodeJS.ProcessEnv, log: Logger, announce: (text: string) => void, prepared?: AdminCredentials): Promise<SecurityStore> {
  const file = securityFile(home);
  const existing = await SecurityStore.open(file);
  if (existing) return existing;
  const { password, given, hash } = prepared ?? firstAdminCredentials(env);
  const store = await SecurityStore.create(file, await hash);
  if (!given) {
    const passwordFile = join(home, 'initial-admin-password');
    await writeFileAtomic(passwordFile, `${password}\n`, { mode: 0o600 });
    // Printed once, on the console only (not through the logger's sinks).
    announce(`\nApp Mesh TS first start: user 'admin' password: ${password}\n(also saved in ${passwordFile}, mode 0600)\n\n`);
  }
  log.info('created the security store with user admin');
  return store;
}
