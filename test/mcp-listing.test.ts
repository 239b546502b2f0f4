import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mcpClient } from './helpers/mcp-client.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// tools/list is made once per set of tools shown and reused by every session that shows the same
// set: a listing made for one caller must never reach a caller with other permissions.
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const PASSWORD = 'Listing-Password-1';

async function toolNames(token: string): Promise<string[]> {
  const client = await mcpClient(d.url, token);
  try {
    return (await client.listTools()).tools.map((tool) => tool.name).sort();
  } finally {
    await client.close();
  }
}

async function addUser(name: string, roles: string[]): Promise<string> {
  expect((await d.request('PUT', `/appmesh/user/${name}`, { body: { key: PASSWORD, group: 'team', roles } })).status).toBe(200);
  return login(d.url, name, PASSWORD);
}

describe('reused tool listings', () => {
  test('sessions of callers with other roles, interleaved, each get their own listing', async () => {
    const viewer = await addUser('listing-viewer', ['view']);
    const first = await toolNames(viewer);
    const admin = await toolNames(d.token);
    const again = await toolNames(viewer);
    expect(again).toEqual(first);
    expect(admin.length).toBeGreaterThan(first.length);
    expect(first).not.toContain('run_command');
    expect(admin).toContain('run_command');
    // A second user with the same roles is shown the same listing.
    expect(await toolNames(await addUser('listing-viewer-2', ['view']))).toEqual(first);
  });

  test('a role given to a user shows in the next session, and taken back, goes again', async () => {
    const token = await addUser('listing-grown', ['view']);
    const before = await toolNames(token);
    expect((await d.request('PUT', '/appmesh/user/listing-grown', { body: { key: PASSWORD, group: 'team', roles: ['view', 'shell'] } })).status).toBe(200);
    const grown = await toolNames(await login(d.url, 'listing-grown', PASSWORD));
    expect(grown).toContain('run_command');
    expect((await d.request('PUT', '/appmesh/user/listing-grown', { body: { key: PASSWORD, group: 'team', roles: ['view'] } })).status).toBe(200);
    expect(await toolNames(await login(d.url, 'listing-grown', PASSWORD))).toEqual(before);
  });
});
