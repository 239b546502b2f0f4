import { readFile, stat } from 'node:fs/promises';
import { generate } from 'otplib';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppmUser, finished, waitForOutput } from './helpers/appm-cli.js';
import { ADMIN_PASSWORD, login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// `appm` managing users, 2FA and the host's settings, run as a person runs it against a real daemon.
const PASSWORD = 'Cli-User-Password-1';
let d: TestDaemon;
let admin: AppmUser;
beforeAll(async () => {
  d = await startTestDaemon();
  admin = await AppmUser.create();
  const logon = await admin.run(['logon', '-H', d.url, '-U', 'admin', '-X', ADMIN_PASSWORD]);
  expect(logon.stderr).toBe('');
  expect(logon.code).toBe(0);
});
afterAll(async () => {
  await d?.stop();
  await admin?.remove();
});

const ok = async (user: AppmUser, args: string[], input = '') => {
  const result = await user.run(args, input);
  expect(result.stderr, `appm ${args.join(' ')}`).toBe('');
  expect(result.code, `appm ${args.join(' ')}`).toBe(0);
  return result.stdout;
};

async function newUser(name: string, roles: string[]): Promise<AppmUser> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, roles } })).status).toBe(200);
  return AppmUser.create();
}

describe('appm: users and 2FA', () => {
  test('logon with TOTP: mfa -a turns it on (code answered on stdin), logon asks for the code, logoff revokes', async () => {
    const user = await newUser('cli-mfa', ['view']);
    await ok(user, ['logon', '-H', d.url, '-U', 'cli-mfa', '-X', PASSWORD]);
    expect(await ok(user, ['mfa'])).toContain('2FA is off');
    const setup = user.spawn(['mfa', '-a']);
    const shown = await waitForOutput(setup, /secret: ([A-Z2-7]+)/);
    const secret = /secret: ([A-Z2-7]+)/.exec(shown)![1];
    setup.stdin.end(`${await generate({ secret })}\n`);
    const enabled = await finished(setup);
    expect(enabled.stderr).toBe('');
    expect(enabled.code).toBe(0);
    expect(await ok(user, ['mfa'])).toContain('2FA is on');
    const token = (JSON.parse(await readFile(`${user.env.XDG_CONFIG_HOME}/appmesh/session.json`, 'utf8')) as { sessions: Record<string, { token: string }> }).sessions[d.url].token;
    expect(await ok(user, ['logoff'])).toContain('Logged off');
    expect((await d.request('GET', '/appmesh/user/self', { token })).status).toBe(401);
    expect((await user.run(['ls'])).code).toBe(80);

    // Without the code the logon fails; with it on stdin (the next step's code: setup used this one) it succeeds.
    expect((await user.run(['logon', '-U', 'cli-mfa', '-X', PASSWORD])).code).toBe(80);
    const code = await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 });
    await ok(user, ['logon', '-U', 'cli-mfa', '-X', PASSWORD], `${code}\n`);
    expect(await ok(user, ['user'])).toContain('cli-mfa');
    expect(await ok(admin, ['mfa', '-d', '-t', 'cli-mfa'])).toMatch(/2FA/i);
    await user.remove();
  });

})

describe('appm: credentials on the command line', () => {
  test('logon --totp gives the code up front; -U/-X logs on for one command and stores nothing', async () => {
    const user = await newUser('cli-mfa-flag', ['view']);
    const token = await login(d.url, 'cli-mfa-flag', PASSWORD);
    const uri = ((await (await d.request('POST', '/appmesh/totp/secret', { token })).json()) as { mfa_uri: string }).mfa_uri;
    const secret = new URL(Buffer.from(uri, 'base64').toString()).searchParams.get('secret')!;
    expect((await d.request('POST', '/appmesh/totp/setup', { token, headers: { 'X-Totp-Code': await generate({ secret }) } })).status).toBe(200);

    const once = await user.run(['-H', d.url, '-U', 'cli-mfa-flag', '-X', PASSWORD, '--totp', await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }), 'user']);
    expect(once.stderr).toBe('');
    expect(once.stdout).toContain('cli-mfa-flag');
    await expect(stat(`${user.env.XDG_CONFIG_HOME}/appmesh/session.json`)).rejects.toThrow();
    await user.remove();
  });
});

describe('appm: host and users', () => {
  test('label, config, log, resource, metric', async () => {
    expect(await ok(admin, ['label', '-a', '-l', 'zone=eu-1', '-l', 'tier=gold'])).toMatch(/tier=gold\n[\s\S]*zone=eu-1|zone=eu-1[\s\S]*tier=gold/);
    expect(await ok(admin, ['label'])).toContain('zone=eu-1');
    expect(await ok(admin, ['label', '-d', '-l', 'zone'])).not.toContain('zone=');
    const config = JSON.parse(await ok(admin, ['config'])) as { BaseConfig: { LogLevel: string } };
    expect(config.BaseConfig.LogLevel).toBeDefined();
    expect((JSON.parse(await ok(admin, ['config', '-s', 'BaseConfig.LogLevel=DEBUG'])) as typeof config).BaseConfig.LogLevel).toBe('DEBUG');
    expect(await ok(admin, ['log', '-L', 'info'])).toContain('INFO');
    expect(await ok(admin, ['config', '--format', 'yaml'])).toMatch(/LogLevel: INFO/);
    expect((JSON.parse(await ok(admin, ['resource'])) as { schema_version: number }).schema_version).toBeGreaterThan(0);
    expect(await ok(admin, ['metric'])).toMatch(/# HELP/);
  });

  test('user, passwd, lock', async () => {
    expect(await ok(admin, ['user', '--add', 'cli-new', '-r', 'view', '-g', 'team'], `${PASSWORD}\n${PASSWORD}\n`)).toMatch(/success/i);
    const users = JSON.parse(await ok(admin, ['user', '-A', '--format', 'json'])) as Record<string, { roles: string[]; group: string }>;
    expect(users['cli-new']).toMatchObject({ roles: ['view'], group: 'team' });
    expect(await ok(admin, ['user', '-A'])).toMatch(/cli-new\s+team\s+view/);

    const user = await AppmUser.create();
    await ok(user, ['logon', '-H', d.url, '-U', 'cli-new', '-X', PASSWORD]);
    expect(await ok(user, ['passwd'], `${PASSWORD}\nCli-New-Password-2\nCli-New-Password-2\n`)).toMatch(/success/i);
    expect((await user.run(['logon', '-U', 'cli-new', '-X', PASSWORD])).code).toBe(80);
    await ok(user, ['logon', '-U', 'cli-new', '-X', 'Cli-New-Password-2']);

    expect(await ok(admin, ['lock', '-t', 'cli-new', '-k', 'true'])).toMatch(/lock/i);
    const locked = await user.run(['ls']);
    expect(locked.code).toBe(80);
    expect((await user.run(['logon', '-U', 'cli-new', '-X', 'Cli-New-Password-2'])).code).toBe(80);
    expect(await ok(admin, ['lock', '-t', 'cli-new', '-k', 'false'])).toMatch(/unlock/i);
    await ok(user, ['logon', '-U', 'cli-new', '-X', 'Cli-New-Password-2']);
    expect(await ok(user, ['user'])).toContain('cli-new');
    expect(await ok(admin, ['user', '--remove', 'cli-new', '-f'])).toMatch(/success/i);
    await user.remove();
  });
});

