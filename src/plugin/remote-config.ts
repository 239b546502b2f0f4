import { basename, isAbsolute } from 'node:path';

export const DEFAULT_URL = 'http://127.0.0.1:6060';

/** The plugin's settings, from the environment (the original's names, plus a token). */
export interface RemoteConfig {
  url: string;
  /** False when neither APPMESH_URL nor APPMESH_HOST is set (the default address is tried). */
  urlSet: boolean;
  user: string;
  password?: string;
  token?: string;
  /** A name (a folder under the remote user's `~/workspace/`) or an absolute path on the node. */
  workspace: string;
  workspaceSet: boolean;
  /** `true`, `false`, or the path of a CA file. */
  sslVerify: string;
  syncExclude?: string;
}

/** A mistake in the configuration or a refusal: the message says what to change. */
export class ConfigError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'ConfigError';
  }
}

const WORKSPACE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function readConfig(env: NodeJS.ProcessEnv, projectRoot: string): RemoteConfig {
  const url = (env.APPMESH_URL || env.APPMESH_HOST || '').trim();
  const workspace = (env.APPMESH_WORKSPACE ?? '').trim();
  return {
    url: url || DEFAULT_URL,
    urlSet: url !== '',
    user: (env.APPMESH_USER ?? '').trim() || 'admin',
    password: env.APPMESH_PASSWORD || undefined,
    token: (env.APPMESH_TOKEN ?? '').trim() || undefined,
    workspace: workspace || defaultWorkspaceName(projectRoot),
    workspaceSet: workspace !== '',
    sslVerify: (env.APPMESH_SSL_VERIFY ?? '').trim() || 'true',
    syncExclude: env.APPMESH_SYNC_EXCLUDE,
  };
}

/** The project folder's name, made a valid workspace name. */
export function defaultWorkspaceName(projectRoot: string): string {
  return basename(projectRoot).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '').slice(0, 64) || 'project';
}

/** The workspace's path on the node, given the remote user's home. */
export function remoteRootOf(config: RemoteConfig, remoteHome: string): string {
  if (isAbsolute(config.workspace) || config.workspace.startsWith('/')) {
    if (config.workspace.split('/').includes('..')) throw new ConfigError(`APPMESH_WORKSPACE must not contain '..': ${config.workspace}`);
    return config.workspace.replace(/\/+$/, '') || '/';
  }
  if (!WORKSPACE_NAME.test(config.workspace) || config.workspace === '..' || config.workspace === '.') {
    throw new ConfigError(`APPMESH_WORKSPACE must be a name (letters, digits, '.', '_', '-') or an absolute path: ${config.workspace.slice(0, 80)}`);
  }
  return `${remoteHome.replace(/\/+$/, '')}/workspace/${config.workspace}`;
}

/** What is missing or doubtful, for the session-start check: one line each. */
export function configProblems(config: RemoteConfig): string[] {
  const problems: string[] = [];
  if (!config.urlSet) problems.push(`APPMESH_URL (or APPMESH_HOST) is not set: the daemon at ${DEFAULT_URL} is used.`);
  if (!config.token && !config.password) problems.push('Neither APPMESH_TOKEN nor APPMESH_PASSWORD is set: the script cannot log in (the MCP server can still sign in through the browser).');
  if (!/^https?:\/\//i.test(config.url)) problems.push(`APPMESH_URL should start with http:// or https:// (${config.url}); a bare host:port means https.`);
  if (!['true', 'false', '1', '0', 'yes', 'no'].includes(config.sslVerify.toLowerCase()) && !isAbsolute(config.sslVerify)) {
    problems.push(`APPMESH_SSL_VERIFY is true, false or the absolute path of a CA file (${config.sslVerify}).`);
  }
  if (!config.workspaceSet) problems.push(`APPMESH_WORKSPACE is not set: the workspace is named after the project folder (${config.workspace}).`);
  return problems;
}
