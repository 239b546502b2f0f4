import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { ConfigDocument } from './config-schema.js';
import { ConfigError } from './config-file.js';

/** What the REST listener needs for HTTPS, read from `REST.SSL`. */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA of client certificates (VerifyClient) and of the cluster nodes requests are relayed to. */
  ca?: Buffer;
  /** Mutual TLS: the handshake is refused to clients without a certificate signed by `ca`. */
  verifyClient: boolean;
  /** Presented when relaying to a cluster node (which may itself verify clients). */
  clientCertificate?: { cert: Buffer; key: Buffer };
}

/**
 * The TLS settings, checked: every file a setting names must exist, and a setting that cannot
 * take effect (VerifyClient without HTTPS or without a CA) is an error naming it, never ignored.
 * Relative paths are read from the home folder. Undefined: plain HTTP.
 */
export function tlsFiles(home: string, config: ConfigDocument): TlsFiles | undefined {
  const ssl = config.REST.SSL;
  const inHome = (path: string) => (isAbsolute(path) ? path : join(home, path));
  if (!ssl.SSLCertificateFile && !ssl.SSLCertificateKeyFile) {
    if (ssl.VerifyClient) throw new ConfigError('REST.SSL.VerifyClient needs HTTPS: set REST.SSL.SSLCertificateFile and REST.SSL.SSLCertificateKeyFile');
    return undefined;
  }
  if (!ssl.SSLCertificateFile || !ssl.SSLCertificateKeyFile) {
    throw new ConfigError('REST.SSL needs both SSLCertificateFile and SSLCertificateKeyFile for HTTPS');
  }
  const named = (key: string, path: string): string => {
    const file = inHome(path);
    if (!existsSync(file)) throw new ConfigError(`REST.SSL.${key}: ${file} does not exist`);
    return file;
  };
  const cert = named('SSLCertificateFile', ssl.SSLCertificateFile);
  const key = named('SSLCertificateKeyFile', ssl.SSLCertificateKeyFile);
  // Without VerifyClient the CA is optional: relays then trust the system's CAs.
  const caFile = ssl.SSLCaPath ? inHome(ssl.SSLCaPath) : '';
  if (ssl.VerifyClient && !(caFile && existsSync(caFile))) {
    throw new ConfigError(`REST.SSL.VerifyClient needs the CA of the client certificates: REST.SSL.SSLCaPath ${caFile || '(empty)'} does not exist`);
  }
  const ca = caFile && existsSync(caFile) ? readFileSync(caFile) : undefined;
  const presented = ssl.SSLClientCertificateFile && ssl.SSLClientCertificateKeyFile ? clientCertificate(inHome(ssl.SSLClientCertificateFile), inHome(ssl.SSLClientCertificateKeyFile)) : undefined;
  return { cert, key, ca, verifyClient: ssl.VerifyClient, clientCertificate: presented };
}

function clientCertificate(certFile: string, keyFile: string): TlsFiles['clientCertificate'] {
  const [hasCert, hasKey] = [existsSync(certFile), existsSync(keyFile)];
  if (!hasCert && !hasKey) return undefined;
  if (!hasCert) throw new ConfigError(`REST.SSL.SSLClientCertificateFile: ${certFile} does not exist (its key ${keyFile} does)`);
  if (!hasKey) throw new ConfigError(`REST.SSL.SSLClientCertificateKeyFile: ${keyFile} does not exist (its certificate ${certFile} does)`);
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
