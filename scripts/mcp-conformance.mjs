#!/usr/bin/env node
// Runs the official MCP conformance suite (server scenarios) against App Mesh's /mcp.
//
// The suite sends no credentials, and /mcp wants a bearer token: a local proxy adds it to every
// request and passes everything else (Host and Origin included) through unchanged.
//
//   npm run conformance:mcp                         a throwaway daemon (built dist/), logged in as admin
//   APPMESH_URL=http://host:6060 APPMESH_TOKEN=...  an existing daemon, with that token
//   APPMESH_URL=... APPMESH_USER=u APPMESH_PASSWORD=p   an existing daemon, logging in as u
//
// Scenarios listed in scripts/mcp-conformance-baseline.yml are expected to fail (each with why);
// the run fails on any other failure and on a listed scenario that now passes. The suite is
// fetched from the npm registry by npx, so this is not part of `npm test`.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SUITE = '@modelcontextprotocol/conformance@0.1.13';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const baseline = join(root, 'scripts', 'mcp-conformance-baseline.yml');

async function login(url, user, password) {
  const response = await fetch(`${url}/appmesh/login`, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });
  if (response.status !== 200) throw new Error(`login as ${user} failed: ${response.status} ${await response.text()}`);
  return (await response.json()).access_token;
}

/** A daemon of our own on a free port with a fresh home, when none is given. */
async function ownDaemon() {
  const { startDaemon } = await import(join(root, 'dist', 'src', 'daemon.js'));
  const { Logger } = await import(join(root, 'dist', 'src', 'util', 'log.js'));
  const home = await mkdtemp(join(tmpdir(), 'appmesh-conformance-'));
  const password = 'Conformance-Admin-1';
  const env = { ...process.env, APPMESH_ADMIN_PASSWORD: password, APPMESH_MQTT_EmbeddedBrokerPort: '0' };
  const daemon = await startDaemon({ home, env, port: 0, logger: new Logger('ERROR', () => undefined) });
  return { url: daemon.url, token: await login(daemon.url, 'admin', password), close: async () => { await daemon.close(); await rm(home, { recursive: true, force: true }); } };
}

/** Forwards every request to `target`, adding the bearer token when the client sent none. */
function tokenProxy(target, token) {
  const upstream = new URL(target);
  const send = upstream.protocol === 'https:' ? httpsRequest : httpRequest;
  const server = createServer((req, res) => {
    const headers = { ...req.headers };
    headers.authorization ??= `Bearer ${token}`;
    const forwarded = send(
      { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers, rejectUnauthorized: process.env.APPMESH_TLS_VERIFY !== '0' },
      (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      },
    );
    forwarded.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: `proxy: ${error.message}` }));
    });
    req.pipe(forwarded);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let daemon;
let code = 1;
try {
  if (process.env.APPMESH_URL) {
    const url = process.env.APPMESH_URL.replace(/\/+$/, '');
    const token = process.env.APPMESH_TOKEN || (await login(url, process.env.APPMESH_USER || 'admin', process.env.APPMESH_PASSWORD || ''));
    daemon = { url, token, close: async () => undefined };
  } else {
    daemon = await ownDaemon();
  }
  const proxy = await tokenProxy(daemon.url, daemon.token);
  const proxyUrl = `http://127.0.0.1:${proxy.address().port}/mcp`;
  const extra = process.argv.slice(2);
  code = await new Promise((resolve) => {
    const child = spawn('npx', ['-y', SUITE, 'server', '--url', proxyUrl, '--expected-failures', baseline, ...extra], { stdio: 'inherit' });
    child.on('exit', (exitCode) => resolve(exitCode ?? 1));
    child.on('error', (error) => (console.error(`Could not run ${SUITE}: ${error.message}`), resolve(1)));
  });
  proxy.close();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
} finally {
  await daemon?.close();
}
process.exit(code);
