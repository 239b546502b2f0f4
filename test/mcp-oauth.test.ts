import { createHash, randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { mcpClient, ok } from './helpers/mcp-client.js';

const REDIRECT = 'http://127.0.0.1:33418/callback';
const PASSWORD = 'Oauth-User-Pass-1';

let d: TestDaemon;
let secret: string;
beforeAll(async () => {
  d = await startTestDaemon();
  // A person with 2FA: the login page must ask for the password, then the code.
  await d.request('PUT', '/appmesh/user/person', { body: { key: PASSWORD, group: 'people', roles: ['view', 'shell'] } });
  const token = await login(d.url, 'person', PASSWORD);
  const uri = Buffer.from(((await (await d.request('POST', '/appmesh/totp/secret', { token })).json()) as { mfa_uri: string }).mfa_uri, 'base64').toString();
  secret = new URL(uri).searchParams.get('secret')!;
  const setup = await d.request('POST', '/appmesh/totp/setup', { token, headers: { 'X-Totp-Code': await generate({ secret }) } });
  expect(setup.status).toBe(200);
});
afterAll(async () => {
  await d.stop();
});

const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString(), redirect: 'manual' as const });
const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];

describe('OAuth 2.1 bridge for MCP clients', () => {
  test('discovery, registration, authorize with PKCE, password then TOTP, code exchange, tool call, refresh, revoke', async () => {
    const resource = (await (await fetch(`${d.url}/.well-known/oauth-protected-resource`)).json()) as { authorization_servers: string[] };
    const metadata = (await (await fetch(`${resource.authorization_servers[0]}/.well-known/oauth-authorization-server`)).json()) as Record<string, string | string[]>;
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);

    const registration = await fetch(metadata.registration_endpoint as string, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT], client_name: 'test client' }),
    });
    expect(registration.status).toBe(201);
    const { client_id: clientId } = (await registration.json()) as { client_id: string };

    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const authorize = new URL(metadata.authorization_endpoint as string);
    for (const [key, value] of Object.entries({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', state: 'xyz', scope: 'appmesh' })) {
      authorize.searchParams.set(key, value);
    }
    const toLogin = await fetch(authorize, { redirect: 'manual' });
    expect(toLogin.status).toBe(302);
    const loginUrl = new URL(toLogin.headers.get('location')!, d.url);
    const page = await (await fetch(loginUrl)).text();
    const txnId = hidden(page, 'txn_id')!;
    expect(page).toContain('name="password"');

    const wrong = await fetch(`${d.url}/login`, form({ txn_id: txnId, username: 'person', password: 'wrong' }));
    expect(wrong.status).toBe(401);
    const totpPage = await (await fetch(`${d.url}/login`, form({ txn_id: txnId, username: 'person', password: PASSWORD }))).text();
    const totpChallenge = hidden(totpPage, 'totp_challenge')!;
    expect(totpChallenge).toBeTruthy();
    const code = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    const back = await fetch(`${d.url}/login`, form({ txn_id: txnId, username: 'person', totp_challenge: totpChallenge, totp_code: code }));
    expect(back.status).toBe(302);
    const callback = new URL(back.headers.get('location')!);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('state')).toBe('xyz');
    const authCode = callback.searchParams.get('code')!;

    const exchange = await fetch(metadata.token_endpoint as string, form({ grant_type: 'authorization_code', code: authCode, code_verifier: verifier, client_id: clientId, redirect_uri: REDIRECT }));
    expect(exchange.status).toBe(200);
    const tokens = (await exchange.json()) as { access_token: string; refresh_token: string; token_type: string; expires_in: number };
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.expires_in).toBe(3600);
    const reused = await fetch(metadata.token_endpoint as string, form({ grant_type: 'authorization_code', code: authCode, code_verifier: verifier, client_id: clientId, redirect_uri: REDIRECT }));
    expect(reused.status).toBe(400);

    const client = await mcpClient(d.url, tokens.access_token);
    expect((await ok<{ name: string }>(client, 'get_current_user')).name).toBe('person');
    expect(await ok(client, 'run_app_sync', { command: 'echo via-oauth' })).toEqual({ exit_code: 0, output: 'via-oauth\n' });
    await client.close();

    const refreshed = await fetch(metadata.token_endpoint as string, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }));
    expect(refreshed.status).toBe(200);
    const next = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    const replay = await fetch(metadata.token_endpoint as string, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }));
    expect(replay.status).toBe(400);

    const revoke = await fetch(metadata.revocation_endpoint as string, form({ token: next.access_token, client_id: clientId }));
    expect(revoke.status).toBe(200);
    const afterRevoke = await fetch(`${d.url}/mcp`, { method: 'POST', headers: { Authorization: `Bearer ${next.access_token}`, 'Content-Type': 'application/json' }, body: '{}' });
    expect(afterRevoke.status).toBe(401);
  });

  test('unknown clients, foreign redirect URIs and missing PKCE are refused', async () => {
    const registration = await fetch(`${d.url}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ redirect_uris: ['http://evil.example/cb'] }) });
    expect(registration.status).toBe(400);
    const ok201 = await fetch(`${d.url}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ redirect_uris: [REDIRECT] }) });
    const { client_id: clientId } = (await ok201.json()) as { client_id: string };
    expect((await fetch(`${d.url}/authorize?response_type=code&client_id=nobody&redirect_uri=${encodeURIComponent(REDIRECT)}`, { redirect: 'manual' })).status).toBe(400);
    expect((await fetch(`${d.url}/authorize?response_type=code&client_id=${clientId}&redirect_uri=${encodeURIComponent('http://127.0.0.1:1/other')}`, { redirect: 'manual' })).status).toBe(400);
    // A wrong PKCE verifier gets no token (admin has no 2FA: password only).
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const start = await fetch(`${d.url}/authorize?response_type=code&client_id=${clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_challenge=${challenge}&code_challenge_method=S256`, { redirect: 'manual' });
    const txnId = new URL(start.headers.get('location')!, d.url).searchParams.get('txn_id')!;
    const signedIn = await fetch(`${d.url}/login`, form({ txn_id: txnId, username: 'admin', password: ADMIN_PASSWORD }));
    const code = new URL(signedIn.headers.get('location')!).searchParams.get('code')!;
    const wrong = await fetch(`${d.url}/token`, form({ grant_type: 'authorization_code', code, code_verifier: 'not-the-verifier', client_id: clientId, redirect_uri: REDIRECT }));
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: string }).error).toBe('invalid_grant');
    const burnt = await fetch(`${d.url}/token`, form({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: clientId, redirect_uri: REDIRECT }));
    expect(burnt.status).toBe(400);
    const noPkce = await fetch(`${d.url}/authorize?response_type=code&client_id=${clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&state=s`, { redirect: 'manual' });
    expect(noPkce.status).toBe(302);
    expect(new URL(noPkce.headers.get('location')!).searchParams.get('error')).toBe('invalid_request');
  });
});
