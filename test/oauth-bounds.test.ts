import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { mcpClient, ok } from './helpers/mcp-client.js';
import { startChildDaemon } from './helpers/child-daemon.js';
import { rawRequest } from './helpers/raw-http.js';
import { OAuthState } from '../tools/oauth/oauth-state.js';

const REDIRECT = 'http://127.0.0.1:33418/callback';
const PASSWORD = 'Victim-Pass-1';
const MAX_CLIENTS = 40;

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon({ env: { APPMESH_MCP_MaxOAuthClients: String(MAX_CLIENTS) } });
  await d.request('PUT', '/appmesh/user/victim', { body: { key: PASSWORD, group: 'people', roles: ['view', 'shell'] } });
});
afterAll(async () => {
  await d.stop();
});

const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(), redirect: 'manual' as const });
const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];

/** Registration from a chosen loopback address (each address has its own registration rate). */
function register(body: unknown, localAddress = '127.0.0.1') {
  return rawRequest(`${d.url}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), localAddress });
}

async function registered(redirect = REDIRECT, name?: string, localAddress?: string): Promise<string> {
  const response = await register({ redirect_uris: [redirect], client_name: name }, localAddress);
  expect(response.status, response.body).toBe(201);
  return (JSON.parse(response.body) as { client_id: string }).client_id;
}

/** Authorize → login page; returns the page and its transaction. */
async function startLogin(clientId: string, redirect = REDIRECT) {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const query = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: redirect, code_challenge: challenge, code_challenge_method: 'S256', state: 's1' });
  const toLogin = await fetch(`${d.url}/authorize?${query}`, { redirect: 'manual' });
  expect(toLogin.status).toBe(302);
  const page = await (await fetch(new URL(toLogin.headers.get('location')!, d.url))).text();
  return { page, txnId: hidden(page, 'txn_id')!, verifier };
}

async function signIn(clientId: string, redirect = REDIRECT) {
  const { txnId, verifier } = await startLogin(clientId, redirect);
  const back = await fetch(`${d.url}/login`, form({ txn_id: txnId, username: 'victim', password: PASSWORD }));
  expect(back.status).toBe(302);
  const code = new URL(back.headers.get('location')!).searchParams.get('code')!;
  const exchange = await fetch(`${d.url}/token`, form({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: clientId, redirect_uri: redirect }));
  expect(exchange.status).toBe(200);
  return (await exchange.json()) as { access_token: string; refresh_token: string };
}


/** A POST written whole whatever the server does meanwhile (it may answer 413 and close early); its status. */
function postOverSocket(url: string, path: string, body: Buffer): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let response = '';
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (response += chunk.toString()));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(response)?.[1] ?? 0)));
    socket.write(`POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    socket.end(body);
  });
}

async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

describe('consent and audience', () => {
  test('the login page names the client and where the code goes', async () => {
    const clientId = await registered('https://attacker.example/cb', 'Totally <b>Legit</b> Tool', '127.0.0.30');
    const { page } = await startLogin(clientId, 'https://attacker.example/cb');
    expect(page).toContain('Totally &#60;b&#62;Legit&#60;/b&#62; Tool');
    expect(page).toContain('attacker.example');
    expect(page).not.toContain('<b>Legit</b>');
  });

  test('tokens from the bridge work on /mcp and nowhere else in the REST API', async () => {
    const clientId = await registered(REDIRECT, 'agent', '127.0.0.31');
    const tokens = await signIn(clientId);
    const client = await mcpClient(d.url, tokens.access_token);
    expect((await ok<{ name: string }>(client, 'get_current_user')).name).toBe('victim');
    await client.close();

    const rest = await d.request('GET', '/appmesh/user/self', { token: tokens.access_token });
    expect(rest.status).toBe(401);
    const apps = await d.request('GET', '/appmesh/applications', { token: tokens.access_token });
    expect(apps.status).toBe(401);
    // The refresh token cannot be turned into a REST token either.
    const renew = await d.request('POST', '/appmesh/token/renew', { token: null, headers: { 'X-Refresh-Token': tokens.refresh_token } });
    expect(renew.status).toBe(401);

    const refreshed = await fetch(`${d.url}/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }));
    expect(refreshed.status).toBe(200);
    const next = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect((await d.request('GET', '/appmesh/user/self', { token: next.access_token })).status).toBe(401);
    const again = await mcpClient(d.url, next.access_token);
    expect((await ok<{ name: string }>(again, 'get_current_user')).name).toBe('victim');
    await again.close();
    // Used once: the first refresh token is spent.
    const replay = await fetch(`${d.url}/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }));
    expect(replay.status).toBe(400);
    // Revoking the refresh token through the bridge ends it.
    expect((await fetch(`${d.url}/revoke`, form({ token: next.refresh_token, token_type_hint: 'refresh_token' }))).status).toBe(200);
    expect((await fetch(`${d.url}/token`, form({ grant_type: 'refresh_token', refresh_token: next.refresh_token, client_id: clientId }))).status).toBe(400);
  });
});

describe('dynamic client registration is bounded', () => {
  test('huge or too many redirect URIs and long names are refused, and memory stays put', async () => {
    // The daemon in its own process: its RSS alone, not the test's own buffers.
    const child = await startChildDaemon();
    try {
      const huge = `https://a.example/${'x'.repeat(390 * 1024)}`;
      const body = Buffer.from(JSON.stringify({ redirect_uris: Array.from({ length: 10 }, () => huge) }));
      // Warm-up: the first requests load and compile code, which is not the flood's doing.
      for (let i = 0; i < 3; i++) await postOverSocket(child.url, '/register', body);
      const before = await rssOf(child.pid);
      for (let i = 0; i < 50; i++) {
        // Refused unread: a 413, or the connection reset under the rest of the body.
        const status = await postOverSocket(child.url, '/register', body);
        expect(status === 0 || status === 413, String(status)).toBe(true);
      }
      const after = await rssOf(child.pid);
      console.log(`registration flood (50 × ten 390 KB redirect URIs): daemon RSS ${(before / 2 ** 20).toFixed(0)} → ${(after / 2 ** 20).toFixed(0)} MiB`);
      // Before the bounds the same flood took the daemon from 92 to 299 MiB, all of it kept.
      expect(after - before).toBeLessThan(48 * 2 ** 20);
    } finally {
      child.stop();
    }

    const overLimit = await register({ redirect_uris: [`https://a.example/${'z'.repeat(100 * 1024)}`] }, '127.0.0.9');
    expect(overLimit.status).toBe(413);
    expect(JSON.parse(overLimit.body).message).toBeTruthy();
    const tooMany = await register({ redirect_uris: Array.from({ length: 6 }, (_, i) => `http://127.0.0.1:${1000 + i}/cb`) }, '127.0.0.9');
    expect(tooMany.status).toBe(400);
    expect(JSON.parse(tooMany.body).error).toBe('invalid_redirect_uri');
    const longUri = await register({ redirect_uris: [`https://a.example/${'y'.repeat(3000)}`] }, '127.0.0.9');
    expect(longUri.status).toBe(400);
    const longName = await register({ redirect_uris: [REDIRECT], client_name: 'n'.repeat(1000) }, '127.0.0.9');
    expect(longName.status).toBe(400);
    expect(JSON.parse(longName.body).error).toBe('invalid_client_metadata');
  });

  test('one address registers at a bounded rate (429 beyond)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await register({ redirect_uris: [REDIRECT] }, '127.0.0.10')).status);
    expect(statuses.slice(0, 20).every((status) => status === 201)).toBe(true);
    expect(statuses.slice(20).every((status) => status === 429)).toBe(true);
    // Another address is not held back by it.
    expect((await register({ redirect_uris: [REDIRECT] }, '127.0.0.11')).status).toBe(201);
  });

  test('one address starts a bounded number of sign-ins (each holds a pending login)', async () => {
    const clientId = await registered(REDIRECT, 'many sign-ins', '127.0.0.40');
    const challenge = createHash('sha256').update('v').digest('base64url');
    const query = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' });
    const statuses: number[] = [];
    for (let i = 0; i < 105; i++) statuses.push((await rawRequest(`${d.url}/authorize?${query}`, { localAddress: '127.0.0.41' })).status);
    expect(statuses.slice(0, 100).every((status) => status === 302)).toBe(true);
    expect(statuses.slice(100).every((status) => status === 429)).toBe(true);
    expect((await rawRequest(`${d.url}/authorize?${query}`, { localAddress: '127.0.0.42' })).status).toBe(302);
  });

  test('when full, new registrations are refused and a client in use keeps working', async () => {
    const inUse = await registered(REDIRECT, 'in use', '127.0.0.20');
    await signIn(inUse);
    let refused = 0;
    for (let address = 21; address < 30 && refused === 0; address++) {
      for (let i = 0; i < 20; i++) {
        const response = await register({ redirect_uris: [REDIRECT] }, `127.0.0.${address}`);
        if (response.status === 503) refused++;
        else expect(response.status).toBe(201);
      }
    }
    expect(refused).toBeGreaterThan(0);
    // The client registered first, and used, is still known.
    await signIn(inUse);
  });
});

describe('the bridge state on its own clock', () => {
  test('a client never used expires; a used one outlives it; transactions are refused when full, not evicted', () => {
    let now = 1_000_000;
    const state = new OAuthState({ maxClients: () => 2, maxTransactions: 2, now: () => now });
    const idle = state.register(['https://a.example/cb'])!;
    const used = state.register(['https://b.example/cb'])!;
    expect(state.register(['https://c.example/cb'])).toBeUndefined();
    state.markUsed(used.client_id);
    now += 11 * 60 * 1000;
    expect(state.client(idle.client_id)).toBeUndefined();
    expect(state.client(used.client_id)).toBeDefined();
    expect(state.register(['https://c.example/cb'])).toBeDefined();

    const first = state.park({ clientId: used.client_id, redirectUri: 'https://b.example/cb', codeChallenge: 'c' });
    expect(state.park({ clientId: used.client_id, redirectUri: 'https://b.example/cb', codeChallenge: 'c' })).toBeDefined();
    expect(state.park({ clientId: used.client_id, redirectUri: 'https://b.example/cb', codeChallenge: 'c' })).toBeUndefined();
    expect(state.transaction(first!)).toBeDefined();
    now += 11 * 60 * 1000;
    expect(state.park({ clientId: used.client_id, redirectUri: 'https://b.example/cb', codeChallenge: 'c' })).toBeDefined();
  });
});
