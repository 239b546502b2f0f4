import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { AppMeshClient } from 'appmesh';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { Logger } from '../src/util/log.js';
import { quietSdkErrors } from './helpers/sdk-client.js';
import { ADMIN_PASSWORD, newHome } from './helpers/test-daemon.js';

// REST.SSL.VerifyClient: only clients holding a certificate signed by REST.SSL.SSLCaPath get past
// the TLS handshake. Certificates are made here with openssl: a CA, the server's, a client's,
// and a client's from another CA.
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

interface Pem {
  cert: Buffer;
  key: Buffer;
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, and certificates it signs (server ones for 127.0.0.1). */
function makeCa(dir: string, name: string): { ca: string; sign: (file: string, cn: string, server: boolean) => void } {
  const ca = join(dir, `${name}.pem`);
  const caKey = join(dir, `${name}-key.pem`);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', caKey, '-out', ca]);
  return {
    ca,
    sign(file, cn, server) {
      const key = `${file}-key.pem`;
      const csr = `${file}.csr`;
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', key, '-out', csr]);
      const ext = join(dir, `${cn}.ext`);
      execFileSync('sh', ['-c', `printf '%s\\n' "${server ? 'subjectAltName=IP:127.0.0.1' : 'extendedKeyUsage=clientAuth'}" > "${ext}"`]);
      openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', `${file}.pem`]);
    },
  };
}

let dir: string;
let verifying: Daemon;
let verifyingHome: string;
let relaying: Daemon;
let relayingHome: string;
let ca: Buffer;
let goodClient: Pem;
let foreignClient: Pem;
const SALT = 'a-cluster-wide-secret-of-forty-characters-01';

const env = (extra: Record<string, string>): NodeJS.ProcessEnv => ({
  ...process.env,
  APPMESH_ADMIN_PASSWORD: ADMIN_PASSWORD,
  APPMESH_MQTT_Enabled: 'false',
  APPMESH_REST_JWT_JWTSalt: SALT,
  APPMESH_REST_SSL_SSLCertificateFile: 'ssl/server.pem',
  APPMESH_REST_SSL_SSLCertificateKeyFile: 'ssl/server-key.pem',
  APPMESH_REST_SSL_SSLCaPath: 'ssl/ca.pem',
  ...extra,
});

/** A home whose ssl/ holds the CA, a server certificate and (optionally) a client certificate. */
async function homeWithCertificates(withClientCertificate: boolean): Promise<string> {
  const home = await newHome();
  await mkdir(join(home, 'ssl'));
  for (const name of ['ca.pem', 'server.pem', 'server-key.pem', ...(withClientCertificate ? ['client.pem', 'client-key.pem'] : [])]) {
    execFileSync('cp', [join(dir, name), join(home, 'ssl', name)]);
  }
  return home;
}

interface Answer {
  status: number;
  body: string;
}

function get(url: string, path: string, options: { client?: Pem; headers?: Record<string, string> } = {}): Promise<Answer> {
  const target = new URL(path, url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: target.hostname, port: target.port, path: target.pathname, method: path.endsWith('/login') ? 'POST' : 'GET', headers: options.headers, ca, ...options.client },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function loginWith(url: string, client: Pem): Promise<string> {
  const answer = await get(url, '/appmesh/login', { client, headers: { Authorization: `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}` } });
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.body) as { access_token: string }).access_token;
}

describe.runIf(hasOpenssl)('mutual TLS (REST.SSL.VerifyClient)', () => {
  beforeAll(async () => {
    quietSdkErrors();
    dir = await newHome();
    const trusted = makeCa(dir, 'ca');
    trusted.sign(join(dir, 'server'), '127.0.0.1', true);
    trusted.sign(join(dir, 'client'), 'device-1', false);
    const foreign = makeCa(dir, 'other-ca');
    foreign.sign(join(dir, 'foreign'), 'intruder', false);
    ca = await readFile(trusted.ca);
    goodClient = { cert: await readFile(join(dir, 'client.pem')), key: await readFile(join(dir, 'client-key.pem')) };
    foreignClient = { cert: await readFile(join(dir, 'foreign.pem')), key: await readFile(join(dir, 'foreign-key.pem')) };

    verifyingHome = await homeWithCertificates(false);
    verifying = await startDaemon({ home: verifyingHome, env: env({ APPMESH_REST_SSL_VerifyClient: 'true' }), port: 0, logger: new Logger('ERROR', () => undefined) });
    // A second node, without VerifyClient, whose relays present ssl/client.pem to the first.
    relayingHome = await homeWithCertificates(true);
    relaying = await startDaemon({
      home: relayingHome,
      env: env({ APPMESH_REST_ClusterNodes: new URL(verifying.url).host }),
      port: 0,
      logger: new Logger('ERROR', () => undefined),
    });
  });
  afterAll(async () => {
    await verifying?.close();
    await relaying?.close();
    await Promise.all([dir, verifyingHome, relayingHome].filter(Boolean).map((path) => rm(path, { recursive: true, force: true })));
  });

  test('a client without a certificate is refused at the handshake', async () => {
    await expect(get(verifying.url, '/appmesh/readyz')).rejects.toThrow(/certificate|socket hang up|ECONNRESET|alert/i);
  });

  test('a client with a certificate of another CA is refused at the handshake', async () => {
    await expect(get(verifying.url, '/appmesh/readyz', { client: foreignClient })).rejects.toThrow(/certificate|unknown ca|socket hang up|ECONNRESET|alert/i);
  });

  test('a client with a certificate of the configured CA is served', async () => {
    expect((await get(verifying.url, '/appmesh/readyz', { client: goodClient })).status).toBe(200);
    const token = await loginWith(verifying.url, goodClient);
    expect((await get(verifying.url, '/appmesh/applications', { client: goodClient, headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  test('the official appmesh npm client works with its client certificate, and not without', async () => {
    const client = new AppMeshClient(verifying.url, { ...goodClient, ca, rejectUnauthorized: true });
    await client.login('admin', ADMIN_PASSWORD);
    expect(await client.run_app_sync({ command: 'echo over-mtls' }, null)).toBe(0);
    const without = new AppMeshClient(verifying.url, { ca, rejectUnauthorized: true });
    await expect(without.login('admin', ADMIN_PASSWORD)).rejects.toThrow();
  });

  test('a relay to a node that verifies clients presents REST.SSL.SSLClientCertificateFile', async () => {
    const token = await loginWith(relaying.url, goodClient);
    const relayed = await get(relaying.url, '/appmesh/applications', {
      headers: { Authorization: `Bearer ${token}`, 'X-Target-Host': new URL(verifying.url).host },
    });
    expect(relayed.status).toBe(200);
    expect(Array.isArray(JSON.parse(relayed.body))).toBe(true);

    // The same relay from a node holding no client certificate does not get through.
    const home = await homeWithCertificates(false);
    const bare = await startDaemon({ home, env: env({ APPMESH_REST_ClusterNodes: new URL(verifying.url).host }), port: 0, logger: new Logger('ERROR', () => undefined) });
    try {
      const refused = await get(bare.url, '/appmesh/applications', { headers: { Authorization: `Bearer ${token}`, 'X-Target-Host': new URL(verifying.url).host } });
      expect(refused.status).toBe(502);
    } finally {
      await bare.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  test('VerifyClient without the CA file stops the start, naming REST.SSL.SSLCaPath', async () => {
    const home = await homeWithCertificates(false);
    try {
      await expect(
        startDaemon({ home, env: env({ APPMESH_REST_SSL_VerifyClient: 'true', APPMESH_REST_SSL_SSLCaPath: 'ssl/missing-ca.pem' }), port: 0, logger: new Logger('ERROR', () => undefined) }),
      ).rejects.toThrow(/REST\.SSL\.VerifyClient needs the CA of the client certificates: REST\.SSL\.SSLCaPath .*missing-ca\.pem does not exist/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
