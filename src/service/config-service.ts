import { arch, hostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import { ADMIN_USER } from '../auth/exec-user.js';
import { applyConfigPatch, ConfigError, loadConfig, saveConfig } from '../config/config-file.js';
import type { ConfigDocument } from '../config/config-schema.js';
import { tlsFiles } from '../config/tls-files.js';
import type { Logger } from '../util/log.js';
import { Serial } from '../util/serial.js';
import type { Authorizer } from './authorize.js';
import { badRequest, preconditionFailed } from './errors.js';

/**
 * Configuration keys only the administrator may change: who runs as whom, whom the daemon trusts,
 * where it writes or listens and how much it accepts. A key names a value or a whole section; a
 * patch is judged by what it changes in the stored document, however it is shaped.
 */
const ADMIN_ONLY_KEYS = [
  'BaseConfig.DefaultExecUser', 'BaseConfig.DisableExecUser', 'BaseConfig.WorkingDirectory', 'BaseConfig.DefaultAppPermission',
  'BaseConfig.DynamicUserIdMin', 'BaseConfig.DynamicUserIdMax', 'BaseConfig.DefaultSandbox',
  'BaseConfig.LogFile', 'BaseConfig.LogFileMaxBytes', 'BaseConfig.LogFiles', 'BaseConfig.LogFormat',
  'REST.RestEnabled', 'REST.RestListenAddress', 'REST.RestListenPort', 'REST.RestTcpPort', 'REST.WebSocketPort', 'REST.PrometheusExporterListenPort', 'REST.PasswordComplexityEnabled', 'REST.CorsDisabled', 'REST.CsrfAllowedOrigins', 'REST.AllowedHosts',
  'REST.FileAllowedBaseDir', 'REST.JWT', 'REST.SSL', 'REST.ClusterNodes', 'REST.ForwardTimeoutSeconds',
  'Limits', 'MQTT', 'MCP',
];

/** What a client sees instead of a secret; sent back unchanged it means "keep the secret". */
export const SECRET_MASK = '*****';
const LABEL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * The configuration: the stored document, the running one (stored + environment overrides +
 * automatic host labels), and the operations on it. Updates are validated, saved atomically and
 * only then take effect; the environment always wins.
 */
export class ConfigService {
  private effective: ConfigDocument;
  private readonly writes = new Serial();

  constructor(
    private readonly home: string,
    private readonly env: NodeJS.ProcessEnv,
    private stored: ConfigDocument,
    effective: ConfigDocument,
    private readonly authorizer: Authorizer,
    private readonly audit: AuditLog,
    private readonly log: Logger,
  ) {
    this.effective = withHostLabels(effective);
  }

  /** The running configuration (every component reads through this). */
  get current(): ConfigDocument {
    return this.effective;
  }

  view(principal: Principal): ConfigDocument {
    this.authorizer.authorize(principal, 'config-view');
    return masked(this.effective);
  }

  async update(principal: Principal, patch: unknown): Promise<ConfigDocument> {
    this.authorizer.authorize(principal, 'config-set');

    const sent = dropMaskedSecret(patch);
    await this.apply(principal.name === ADMIN_USER ? sent : dropEchoedAdminKeys(sent, this.effective), principal, 'config.set');
    return masked(this.effective);
  }

  labels(principal: Principal): Record<string, string> {
    this.authorizer.authorize(principal, 'label-view');
    return { ...this.effective.Labels };
  }

  async setLabel(principal: Principal, name: string, value: string | undefined): Promise<string> {
    this.authorizer.authorize(principal, 'label-set');
    if (!LABEL_NAME.test(name)) throw badRequest(`Invalid label name ${name.slice(0, 64)}`);
    if (value === undefined) throw badRequest('query value required');
    await this.apply({ Labels: { [name]: value } }, principal, 'label.set');
    return 'Add label success';
  }

  async deleteLabel(principal: Principal, name: string): Promise<string> {
    this.authorizer.authorize(principal, 'label-delete');
    if (Object.hasOwn(this.stored.Labels, name)) await this.apply({ Labels: { [name]: null } }, principal, 'label.delete');
    return 'Label delete success';
  }

  /**
   * Re-reads the file (SIGHUP, after an operator edited it); environment overrides are applied
   * again. An invalid file changes nothing and the error says why.
   */
  async reload(): Promise<void> {
    await this.writes.run(async () => {
      const { stored, effective, warnings } = await loadConfig(this.home, this.env);
      for (const warning of warnings) this.log.warn(warning);
      this.stored = stored;
      this.effective = withHostLabels(effective);
      this.log.setLevel(this.effective.BaseConfig.LogLevel);
      this.audit.record({ event: 'config.reload', outcome: 'success' });
    });
  }

  private async apply(patch: unknown, principal: Principal, event: string): Promise<void> {
    await this.writes.run(() => this.applyNow(patch, principal, event));
  }

  private async applyNow(patch: unknown, principal: Principal, event: string): Promise<void> {
    let next: { stored: ConfigDocument; effective: ConfigDocument; warnings: string[] };
    try {
      next = applyConfigPatch(this.stored, patch, this.env);
    } catch (error) {
      if (error instanceof ConfigError) throw badRequest(error.message);
      throw error;
    }
    // Keys that decide who runs as whom or whom to trust: changing them is as good as root. A
    // document sent back whole is fine as long as those values stay as they are.
    const changed = ADMIN_ONLY_KEYS.find((key) => !sameValue(valueAt(this.stored, key), valueAt(next.stored, key)));
    if (changed && principal.name !== ADMIN_USER) {
      this.audit.record({ event: 'authz.denied', user: principal.name, client: principal.client, target: changed, outcome: 'failure', detail: `${event}: ${changed} is admin-only` });
      throw badRequest(`Only ${ADMIN_USER} may change ${changed}`);
    }
    // TLS settings apply at the next start: one that could not start is refused now, not then.
    if (!sameValue(this.stored.REST.SSL, next.stored.REST.SSL)) {
      try {
        tlsFiles(this.home, next.effective);
      } catch (error) {
        if (error instanceof ConfigError) throw badRequest(error.message);
        throw error;
      }
    }
    try {
      await saveConfig(this.home, next.stored);
    } catch (error) {
      throw preconditionFailed(`Failed to save the configuration: ${(error as Error).message}`);
    }
    for (const warning of next.warnings) this.log.warn(`${event} by ${principal.name}: ${warning}`);
    this.stored = next.stored;
    this.effective = withHostLabels(next.effective);
    this.log.setLevel(this.effective.BaseConfig.LogLevel);
    this.audit.record({ event, user: principal.name, client: principal.client, outcome: 'success', detail: keyPaths(patch).join(',').slice(0, 512) });
  }
}

/** Keys never shown to clients (the JWT signing secret, broker passwords). */
const SECRET_PATHS = [['REST', 'JWT', 'JWTSalt'], ['MQTT', 'Password'], ['MQTT', 'TelemetryPassword']] as const;

type Tree = Record<string, unknown>;
const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The object holding the last key of `path`, or undefined. */
function parentOf(root: unknown, path: readonly string[]): Tree | undefined {
  let node = root;
  for (const key of path.slice(0, -1)) node = isTree(node) ? node[key] : undefined;
  return isTree(node) ? node : undefined;
}

function masked(doc: ConfigDocument): ConfigDocument {
  const copy = structuredClone(doc);
  for (const path of SECRET_PATHS) {
    const parent = parentOf(copy, path);
    if (parent?.[path[path.length - 1]]) parent[path[path.length - 1]] = SECRET_MASK;
  }
  return copy;
}

/** SDKs read the whole document, change a key and send it all back, masks included. */
function dropMaskedSecret(patch: unknown): unknown {
  if (!SECRET_PATHS.some((path) => parentOf(patch, path)?.[path[path.length - 1]] === SECRET_MASK)) return patch;
  const copy = structuredClone(patch);
  for (const path of SECRET_PATHS) {
    const parent = parentOf(copy, path);
    if (parent?.[path[path.length - 1]] === SECRET_MASK) delete parent[path[path.length - 1]];
  }
  return copy;
}

/** Labels the daemon sets itself, overriding stored values. */
function withHostLabels(doc: ConfigDocument): ConfigDocument {
  return { ...doc, Labels: { ...doc.Labels, HOST_NAME: hostname(), arch: machineArch(), os_version: osVersion() } };
}

function machineArch(): string {
  return ({ x64: 'x86_64', arm64: 'aarch64', ia32: 'i686' } as Record<string, string>)[arch()] ?? arch();
}

let cachedOsVersion: string | undefined;
function osVersion(): string {
  if (cachedOsVersion === undefined) {
    try {
      cachedOsVersion = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? process.platform;
    } catch {
      cachedOsVersion = process.platform;
    }
  }
  return cachedOsVersion;
}

/** The keys a patch touches, never its values (a patch may carry secrets). */
function keyPaths(patch: unknown, prefix = ''): string[] {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return prefix ? [prefix] : [];
  return Object.entries(patch).flatMap(([key, value]) => keyPaths(value, prefix ? `${prefix}.${key}` : key));
}

/**
 * A document read from the API and sent back shows the running values (environment overrides
 * included): an admin-only value sent back as it runs is no change, so it is left out of the patch.
 */
function dropEchoedAdminKeys(patch: unknown, running: ConfigDocument): unknown {
  const echoed = keyPaths(patch).filter((path) => isAdminOnly(path) && sameValue(valueAt(patch, path), valueAt(running, path)));
  if (echoed.length === 0) return patch;
  const copy = structuredClone(patch);
  for (const path of echoed) {
    const keys = path.split('.');
    delete parentOf(copy, keys)?.[keys[keys.length - 1]];
  }
  return copy;
}

const isAdminOnly = (path: string) => ADMIN_ONLY_KEYS.some((key) => path === key || path.startsWith(`${key}.`));

const sameValue = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function valueAt(doc: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), doc);
}
