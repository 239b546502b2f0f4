import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

/**
 * A sweep over every route the daemon serves: malformed bodies and headers, with and without a
 * token, must give a 4xx (or a 200 where the input happens to be acceptable) — never a 5xx — and
 * the daemon keeps serving. Built from the daemon's own route table, so new routes are covered.
 */
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

const BODIES: (string | undefined)[] = [undefined, '{bad', '[]', '"text"', 'null', '{"name": 5, "command": ["x"], "status": "on"}', '{"__proto__": {"x": 1}}'];
const HEADERS: Record<string, string>[] = [
  {},
  { 'X-File-Path': '%00/etc/../x', 'X-Expire-Seconds': 'zz', 'X-File-Mode': '99999', 'X-Audience': 'no-such-audience', 'X-Totp-Code': 'abc', 'X-Permission': '../x' },
  { 'X-Target-Host': 'bad host', Authorization: 'Basic !!!' },
];
const SKIP = new Set(['GET /appmesh/app/:name/task']); // a worker's fetch waits for work by design

describe('no client mistake reaches a 5xx', () => {
  test('every route, every malformed input', { timeout: 120_000 }, async () => {
    const table: { method: string; url: string }[] = [];
    for (const { method, url } of d.daemon.rest.routeTable) {
      if (method !== 'HEAD' && !SKIP.has(`${method} ${url}`)) table.push({ method, url: url.replace(/:[A-Za-z_]+/g, 'x').replace('*', 'x') });
    }
    expect(table.length).toBeGreaterThan(40);
    const failures: string[] = [];
    for (const { method, url } of table) {
      for (const token of [d.token, null]) {
        for (const body of BODIES) {
          for (const headers of HEADERS) {
            const response = await d.request(method, url, {
              token,
              headers: { ...headers, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
              body: method === 'GET' || method === 'DELETE' ? undefined : body,
            });
            if (response.status >= 500) failures.push(`${method} ${url} ${token ? 'token' : 'anonymous'} ${body} ${JSON.stringify(headers)} → ${response.status} ${await response.text()}`);
            else await response.arrayBuffer();
          }
        }
      }
    }
    expect(failures).toEqual([]);
    expect((await d.request('GET', '/appmesh/readyz')).status).toBe(200);
  });
});
