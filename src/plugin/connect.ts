import { existsSync } from 'node:fs';
import { AppMeshClient } from '../client/appmesh-client.js';
import { AppMeshError } from '../client/errors.js';
import { ConfigError, DEFAULT_URL, type RemoteConfig } from './remote-config.js';

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|SSL|EPROTO|HOSTNAME|ALTNAME/i;
const NO_VERIFY = new Set(['false', '0', 'no']);

/**
 * Node reads extra CA certificates only when it starts: for `APPMESH_SSL_VERIFY=<ca file>` the
 * script runs itself again with NODE_EXTRA_CA_CERTS. Answers the environment to re-run with, if any.
 */
export function tlsRelaunchEnv(config: RemoteConfig, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv | undefined {
  const verify = config.sslVerify;
  if (!verify.startsWith('/') || env.NODE_EXTRA_CA_CERTS === verify) return undefined;
  if (!existsSync(verify)) throw new ConfigError(`APPMESH_SSL_VERIFY names a CA file that does not exist: ${verify}`);
  return { ...env, NODE_EXTRA_CA_CERTS: verify };
}

/** A logged-on client, or a ConfigError that says what to fix. */
export async function connect(config: RemoteConfig): Promise<{ client: AppMeshClient; user: string }> {
  if (NO_VERIFY.has(config.sslVerify.toLowerCase())) {
    // Asked for explicitly: the daemon's certificate is not checked (self-signed test nodes).
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    process.removeAllListeners('warning');
  }
  const client = new AppMeshClient({ url: config.url, token: config.token, timeoutMs: 30_000 });
  try {
    if (config.token) {
      // The token names its user: no request needed (the first real one checks the token anyway).
      const named = tokenSubject(config.token);
      if (named) return { client, user: named };
      const self = await client.users.self();
      return { client, user: typeof self.name === 'string' ? self.name : config.user };
    }
    if (!config.password) throw new ConfigError('Set APPMESH_TOKEN (a token of your App Mesh user), or APPMESH_USER and APPMESH_PASSWORD, to log in to the daemon.');
    await client.login(config.user, config.password);
    return { client, user: config.user };
  } catch (error) {
    throw explain(error, config);
  }
}

/** The `sub` claim of a JWT, read without verifying it (the daemon does that). */
function tokenSubject(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof payload.sub === 'string' && payload.sub ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** Turns a client failure into the message a user acts on. */
export function explain(error: unknown, config: RemoteConfig): Error {
  if (!(error instanceof AppMeshError)) return error instanceof Error ? error : new Error(String(error));
  const where = `the App Mesh daemon at ${config.url}`;
  switch (error.kind) {
    case 'unreachable': {
      if (TLS_CODES.test(error.message)) {
        return new ConfigError(`TLS failure talking to ${where} (${error.message.replace(/^cannot reach \S+: /, '')}). Set APPMESH_SSL_VERIFY to the CA certificate (PEM) that signed the daemon's certificate, or to false to skip the check.`);
      }
      const hint = config.urlSet ? 'Is it running, and is APPMESH_URL (or APPMESH_HOST) right?' : `APPMESH_URL (or APPMESH_HOST) is not set and nothing answers at ${DEFAULT_URL}: set it to your daemon's address.`;
      return new ConfigError(`Cannot reach ${where}: ${error.message.replace(/^cannot reach \S+: /, '')}. ${hint}`);
    }
    case 'unauthorized':
    case 'expired':
      return new ConfigError(config.token
        ? `APPMESH_TOKEN was refused by ${where} (${error.message}): it is wrong, expired or revoked. Get a new one, or unset it and set APPMESH_USER and APPMESH_PASSWORD.`
        : `Login as ${config.user} refused by ${where} (${error.message}): check APPMESH_USER and APPMESH_PASSWORD.`);
    case 'totp-required':
      return new ConfigError(`${config.user} has two-factor authentication: log in once with \`appm logon\` (or POST /appmesh/login with the code) and set APPMESH_TOKEN to the token.`);
    case 'forbidden':
      return new ConfigError(`${where} refused: ${error.message}${error.permission ? ` (your user needs the permission ${error.permission})` : ''}`);
    case 'rate-limited':
      return new ConfigError(`${where} asks to slow down (${error.message}); retry in ${error.retryAfterSeconds ?? 'a few'} seconds.`);
    default:
      return new ConfigError(`${where} answered ${error.status}: ${error.message}`, 1);
  }
}
