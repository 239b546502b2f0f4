import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { call, mcpClient } from './helpers/mcp-client.js';

// A stolen token must not be enough to turn 2FA off, and the 2FA endpoints must not tell who exists.

const PASSWORD = 'User-Password-1';
const now = () => Math.floor(Date.now() / 1000);
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const secretOf = (uri: string) => new URL(Buffer.from(uri, 'base64').toString()).searchParams.get('secret') ?? '';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

/** A user with 2FA on; returns its token and secret (the current step's code is used up). */
async function userWithTotp(name: string): Promise<{ token: string; secret: string }> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, roles: ['view'] } })).status).toBe(200);
  const token = await login(d.url, name, PASSWORD);
  const { mfa_uri: uri } = (await (await d.request('POST', '/appmesh/totp/secret', { token })).json()) as { mfa_uri: string };
  const secret = secretOf(uri);
  const setup = await d.request('POST', '/appmesh/totp/setup', { token, headers: { 'X-Totp-Code': await generate({ secret }) } });
  expect(setup.status).toBe(200);
  return { token: ((await setup.json()) as { access_token: string }).access_token, secret };
}

const loginStatus = async (name: string) => (await d.request('POST', '/appmesh/login', { token: null, headers: { Authorization: basic(name, PASSWORD) } })).status;

describe('replacing an active 2FA secret', () => {
  test('with the token alone it is refused, and 2FA stays on', async () => {
    const { token } = await userWithTotp('mfa-victim');
    const reset = await d.request('POST', '/appmesh/totp/secret', { token });
    expect(reset.status).toBe(400);
    expect(((await reset.json()) as { message: string }).message).toMatch(/TOTP code or the password/);
    const wrong = await d.request('POST', '/appmesh/totp/secret', { token, body: { password: Buffer.from('not-the-password').toString('base64') } });
    expect(wrong.status).toBe(401);
    expect(await loginStatus('mfa-victim')).toBe(428);
    expect(((await (await d.request('GET', '/appmesh/user/self', { token })).json()) as { mfa_enabled: boolean }).mfa_enabled).toBe(true);
  });

  test('through MCP (get_totp_secret) too', async () => {
    const { token } = await userWithTotp('mfa-mcp');
    const client = await mcpClient(d.url, token);
    try {
      const result = await call(client, 'get_totp_secret');
      expect(result.isError).toBe(true);
    } finally {
      await client.close();
    }
    expect(await loginStatus('mfa-mcp')).toBe(428);
  });

  test('with a current code: a new secret, and the old one stays in force until the new one is confirmed', async () => {
    const { token, secret } = await userWithTotp('mfa-owner');
    const reset = await d.request('POST', '/appmesh/totp/secret', { token, headers: { 'X-Totp-Code': await generate({ secret, epoch: now() + 30 }) } });
    expect(reset.status).toBe(200);
    const fresh = secretOf(((await reset.json()) as { mfa_uri: string }).mfa_uri);
    expect(fresh).not.toBe(secret);
    expect(await loginStatus('mfa-owner')).toBe(428); // still on, with the old secret

    const setup = await d.request('POST', '/appmesh/totp/setup', { token, headers: { 'X-Totp-Code': await generate({ secret: fresh }) } });
    expect(setup.status).toBe(200);
    const code = await generate({ secret: fresh, epoch: now() + 30 });
    const withCode = await d.request('POST', '/appmesh/login', { token: null, headers: { Authorization: basic('mfa-owner', PASSWORD), 'X-Totp-Code': code } });
    expect(withCode.status).toBe(200);
  });

  test('with the password (base64, as for a password change)', async () => {
    const { token } = await userWithTotp('mfa-password');
    const reset = await d.request('POST', '/appmesh/totp/secret', { token, body: { password: Buffer.from(PASSWORD).toString('base64') } });
    expect(reset.status).toBe(200);
    expect(await loginStatus('mfa-password')).toBe(428);
  });
});

describe('POST /appmesh/totp/validate', () => {
  test('an unknown user and a user without 2FA get the same answer, in about the same time', async () => {
    expect((await d.request('PUT', '/appmesh/user/no-mfa', { body: { key: PASSWORD, roles: ['view'] } })).status).toBe(200);
    const validate = (user: string) => d.request('POST', '/appmesh/totp/validate', { token: null, body: { user_name: user, totp_challenge: 'x'.repeat(32), totp_code: '123456' } });
    const answers = await Promise.all(['no-such-user', 'no-mfa'].map(async (user) => {
      const response = await validate(user);
      return { status: response.status, body: await response.json() };
    }));
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0].status).toBe(401);

    const median = async (user: string) => {
      const times: number[] = [];
      for (let i = 0; i < 15; i++) {
        const started = performance.now();
        await (await validate(user)).arrayBuffer();
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[7];
    };
    const [unknown, plain] = [await median('no-such-user'), await median('no-mfa')];
    console.log(`validate median: unknown user ${unknown.toFixed(2)} ms, user without 2FA ${plain.toFixed(2)} ms`);
    expect(Math.abs(unknown - plain)).toBeLessThan(Math.max(5, 0.5 * Math.min(unknown, plain)));
  });
});
