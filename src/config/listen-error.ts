import { ConfigError } from './config-file.js';

/**
 * A listener that cannot bind, in the words of the setting to change: `EADDRINUSE` alone does not
 * tell an operator which of the daemon's ports is taken or how to move it.
 */
export function listenError(error: unknown, where: { address: string; port: number; portKey: string; addressKey: string }): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const env = (key: string) => `APPMESH_${key.replaceAll('.', '_')}`;
  const setPort = `set ${where.portKey} or ${env(where.portKey)}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError(`${where.portKey} ${where.port} is in use (by another process): ${setPort}`, { cause: error });
    case 'EACCES':
      return new ConfigError(`${where.portKey} ${where.port} may not be bound by this account (ports below 1024 need root): ${setPort}`, { cause: error });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ConfigError(`${where.addressKey} ${where.address} is not an address of this host: set ${where.addressKey} or ${env(where.addressKey)}`, { cause: error });
    default:
      return new ConfigError(`cannot listen on ${where.address}:${where.port} (${where.addressKey}, ${where.portKey}): ${(error as Error).message}`, { cause: error });
  }
}
