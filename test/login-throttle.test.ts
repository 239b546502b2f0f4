import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ADMIN_PASSWORD, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Login back-off that never blocks the right password because of someone else's failures. Every
// request here comes from 127.0.0.1, as every local or proxied client does.

const PASSWORD = 'User-Password-1';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const loginAs = (t: TestDaemon, user: string, password: string) =>
  t.request('POST', '/appmesh/login', { token: null, headers: { Authorization: basic(user, password) } });

describe("others' failures from the same address", () => {
  test('30 failed logins with unknown names, then the right admin password from the same address succeeds', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await loginAs(d, `nobody-${i}`, 'guess')).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses).toContain(429); // unknown names are throttled on their own path
    const right = await loginAs(d, 'admin', ADMIN_PASSWORD);
    expect(right.status).toBe(200);
    expect(((await right.json()) as { access_token?: string }).access_token).toBeTruthy();
  });

  test('while unknown names are throttled, a wrong password of a known user answers the same', async () => {
    expect((await d.request('PUT', '/appmesh/user/known-one', { body: { key: PASSWORD, roles: ['view'] } })).status).toBe(200);
    const unknown = await loginAs(d, 'not-a-user', 'guess');
    const known = await loginAs(d, 'known-one', 'wrong-guess');
    expect(known.status).toBe(unknown.status);
    expect(await known.json()).toEqual(await unknown.json());
    expect((await loginAs(d, 'known-one', PASSWORD)).status).toBe(200);
  });

});

describe("one user's own failures (own daemon: nothing else throttled)", () => {
  let own: TestDaemon;
  beforeAll(async () => {
    own = await startTestDaemon();
  });
  afterAll(async () => {
    await own?.stop();
  });

  test("25 wrong passwords of one user throttle that user, not another user's right password", async () => {
    const d = own;
    expect((await d.request('PUT', '/appmesh/user/guessed', { body: { key: PASSWORD, roles: ['view'] } })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await loginAs(d, 'guessed', `wrong-${i}`)).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.at(-1)).toBe(429);

    // The guessed user is blocked from this address, even with its right password.
    const blocked = await loginAs(d, 'guessed', PASSWORD);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await blocked.json()) as { access_token?: string }).access_token).toBeUndefined();

    expect((await loginAs(d, 'admin', ADMIN_PASSWORD)).status).toBe(200);
  });

  test('six wrong tries of a known name and of an unknown one get the same answers', async () => {
    const d = own;
    expect((await d.request('PUT', '/appmesh/user/exists', { body: { key: PASSWORD, roles: ['view'] } })).status).toBe(200);
    const answers = async (user: string) => {
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) {
        const response = await loginAs(d, user, `wrong-${i}`);
        seen.push(`${response.status} ${((await response.json()) as { message: string }).message}`);
      }
      return seen;
    };
    const known = await answers('exists');
    expect(known.at(-1)).toMatch(/^429 /);
    expect(await answers('does-not-exist')).toEqual(known);
  });
});
