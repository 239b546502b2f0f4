import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

const PASSWORD = 'Runner-Password-1';

describe('a change of roles counts from the next request on', () => {
  test('a role losing a permission, or a user losing a role, is refused at once with the same token', async () => {
    expect((await d.request('POST', '/appmesh/role/runner', { body: ['app-run-sync', 'app-view'] })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/user/runner-user', { body: { key: PASSWORD, group: 'user', roles: ['runner'] } })).status).toBe(200);
    const token = await login(d.url, 'runner-user', PASSWORD);
    const run = () => d.request('POST', '/appmesh/app/syncrun', { token, body: { command: 'true' } });
    expect((await run()).status).toBe(200);

    expect((await d.request('POST', '/appmesh/role/runner', { body: ['app-view'] })).status).toBe(200);
    const refused = await run();
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toContain("lacks required permission 'app-run-sync'");

    expect((await d.request('POST', '/appmesh/role/runner', { body: ['app-run-sync', 'app-view'] })).status).toBe(200);
    expect((await run()).status).toBe(200);

    expect((await d.request('PUT', '/appmesh/user/runner-user', { body: { group: 'user', roles: [] } })).status).toBe(200);
    expect((await run()).status).toBe(400);
    const held = await d.request('GET', '/appmesh/user/permissions', { token });
    if (held.status === 200) expect(await held.json()).toEqual([]);
  });
});
