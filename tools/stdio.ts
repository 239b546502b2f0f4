#!/usr/bin/env node
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { AppMeshClient } from '../src/client/appmesh-client.js';
import { readCommandLine } from '../src/cli/command-line.js';
import { MCP_USAGE } from '../src/cli/usage.js';
import { startDaemon } from '../src/daemon.js';
import { consoleStderr } from '../src/util/console-output.js';
import { Logger } from '../src/util/log.js';
import { createMcpServer } from './mcp-server.js';

/**
 * `appmesh-mcp`: the MCP face over stdio, for local MCP clients.
 *  - APPMESH_URL + APPMESH_TOKEN (or APPMESH_USER/APPMESH_PASSWORD): relays every message to that
 *    daemon's `/mcp` (nothing runs here), renewing the token before it ends.
 *  - APPMESH_HOME (without APPMESH_URL): this process is the daemon, without a listener, and
 *    serves as APPMESH_USER/APPMESH_PASSWORD (or APPMESH_TOKEN). It holds the home's lock like
 *    any daemon: while another daemon runs on that home it refuses to start.
 * stdout carries the protocol: every log line goes to stderr.
 */
readCommandLine('appmesh-mcp', MCP_USAGE);
// stderr may have no reader (many clients ignore it): its lines must never block or fail the server.
const log = new Logger('WARN', (line) => consoleStderr().write(`${line}\n`));
const env = process.env;

/**
 * Relay mode's session: the token given (APPMESH_TOKEN), or a login as APPMESH_USER with
 * APPMESH_PASSWORD (APPMESH_TOTP_CODE when 2FA is on). Checked once up front, so a wrong URL or an
 * expired token is reported before the MCP client starts talking; renewed before it ends.
 */
async function relaySession(url: string): Promise<AppMeshClient> {
  const client = new AppMeshClient({ url, token: env.APPMESH_TOKEN || undefined });
  if (!client.token) {
    if (!env.APPMESH_USER) throw new Error('APPMESH_TOKEN, or APPMESH_USER and APPMESH_PASSWORD, are required with APPMESH_URL');
    await client.login(env.APPMESH_USER, env.APPMESH_PASSWORD ?? '', { totpCode: env.APPMESH_TOTP_CODE || undefined });
  } else {
    await client.authenticate();
  }
  return client;
}

async function relay(client: AppMeshClient): Promise<void> {
  const url = client.url;
  // Each message carries the session's current token: renewed by the client when near its end.
  const fetchWithToken = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    await client.session.renewIfDue();
    const headers = new Headers(init?.headers);
    headers.set('Authorization', `Bearer ${client.token ?? ''}`);
    return fetch(input, { ...init, headers });
  };
  const upstream = new StreamableHTTPClientTransport(new URL('/mcp', url), { fetch: fetchWithToken });
  const local = new StdioServerTransport();
  local.onmessage = (message: JSONRPCMessage) => {
    upstream.send(message).catch((error: Error) => {
      log.error(`relay to ${url} failed: ${error.message}`);
      if ('id' in message && 'method' in message) {
        void local.send({ jsonrpc: '2.0', id: message.id, error: { code: -32000, message: `App Mesh daemon unreachable: ${error.message}` } });
      }
    });
  };
  upstream.onmessage = (message) => void local.send(message);
  upstream.onerror = (error) => log.error(`daemon connection: ${error.message}`);
  local.onclose = () => void upstream.close().finally(() => process.exit(0));
  // The client is gone when its end of stdout is: EPIPE ends the session instead of crashing it.
  process.stdout.on('error', () => void local.close());
  await upstream.start();
  await local.start();
}

async function inProcess(home: string): Promise<void> {
  const daemon = await startDaemon({ home, env, listen: false, logger: log, announce: (text) => consoleStderr().write(text) });
  let token = env.APPMESH_TOKEN;
  if (!token) {
    const user = env.APPMESH_USER || 'admin';
    const login = await daemon.core.auth.login({ authorization: `Basic ${Buffer.from(`${user}:${env.APPMESH_PASSWORD ?? ''}`).toString('base64')}`, client: 'stdio' });
    token = login.access_token;
  }
  const principal = await daemon.core.auth.authenticate(token, undefined, 'stdio');
  const server = createMcpServer(daemon.core, principal, () => principal);
  const transport = new StdioServerTransport();
  // The client going away (end of stdin, or a signal) stops every process tree this session started.
  let closing: Promise<void> | undefined;
  const shutDown = () => void (closing ??= daemon.close().catch((error: Error) => log.error(`stopping: ${error.message}`)).finally(() => process.exit(0)));
  transport.onclose = shutDown;
  process.stdin.once('end', shutDown).once('close', shutDown);
  process.stdout.on('error', shutDown);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, shutDown);
  await server.connect(transport);
}

try {
  if (env.APPMESH_URL) {
    await relay(await relaySession(env.APPMESH_URL));
  } else if (env.APPMESH_HOME) {
    await inProcess(env.APPMESH_HOME);
  } else {
    throw new Error('set APPMESH_URL and APPMESH_TOKEN (relay to a daemon), or APPMESH_HOME (serve in-process)');
  }
} catch (error) {
  log.error(`appmesh-mcp: ${(error as Error).message}`);
  await log.flush(500);
  process.exit(1);
}
