import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Stored documents are rewritten whole: concurrent changes must all survive, on disk and after a restart.
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

describe('concurrent changes lose nothing', () => {
  test('30 labels set at once are all stored', async () => {
    const names = Array.from({ length: 30 }, (_, index) => `label${index}`);
    const answers = await Promise.all(names.map((name) => d.request('PUT', `/appmesh/label/${name}?value=${name}`)));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    const stored = parse(await readFile(join(d.home, 'config', 'config.yaml'), 'utf8')) as { Labels: Record<string, string> };
    for (const name of names) expect(stored.Labels[name]).toBe(name);
  });

  test('20 users and roles added at once are all stored and survive a restart', async () => {
    const users = Array.from({ length: 10 }, (_, index) => `user${index}`);
    const roles = Array.from({ length: 10 }, (_, index) => `role${index}`);
    const answers = await Promise.all([
      ...users.map((name) => d.request('PUT', `/appmesh/user/${name}`, { body: { key: 'Some-Password-1', group: 'g' } })),
      ...roles.map((name) => d.request('POST', `/appmesh/role/${name}`, { body: ['app-view'] })),
    ]);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    await d.restart();
    const stored = (await (await d.request('GET', '/appmesh/users')).json()) as Record<string, unknown>;
    const storedRoles = (await (await d.request('GET', '/appmesh/roles')).json()) as Record<string, unknown>;
    for (const name of users) expect(stored[name]).toBeDefined();
    for (const name of roles) expect(storedRoles[name]).toEqual(['app-view']);
  });

  test('tokens revoked at once all stay revoked after a restart', async () => {
    const { login } = await import('./helpers/test-daemon.js');
    const tokens = await Promise.all(Array.from({ length: 10 }, () => login(d.url, 'user0', 'Some-Password-1')));
    await Promise.all(tokens.map((token) => d.request('POST', '/appmesh/self/logoff', { token })));
    await d.restart();
    for (const token of tokens) expect((await d.request('GET', '/appmesh/user/self', { token })).status).toBe(401);
  });

  test('one token renewed ten times at once yields one new token', async () => {
    const { ADMIN_PASSWORD, login } = await import('./helpers/test-daemon.js');
    const token = await login(d.url, 'admin', ADMIN_PASSWORD);
    const renewals = await Promise.all(Array.from({ length: 10 }, () => d.request('POST', '/appmesh/token/renew', { token })));
    expect(renewals.filter((renewal) => renewal.status === 200)).toHaveLength(1);
    expect(renewals.filter((renewal) => renewal.status === 401)).toHaveLength(9);
  });

  test('the same app replaced 10 times at once ends with one definition, on disk as in memory', async () => {
    await Promise.all(Array.from({ length: 10 }, (_, index) => d.request('PUT', '/appmesh/app/raced', { body: { command: `sleep ${100 + index}` } })));
    const inMemory = ((await (await d.request('GET', '/appmesh/app/raced')).json()) as { command: string }).command;
    const onDisk = (parse(await readFile(join(d.home, 'apps', 'raced.yaml'), 'utf8')) as { command: string }).command;
    expect(onDisk).toBe(inMemory);
    await d.request('DELETE', '/appmesh/app/raced');
  });
});
