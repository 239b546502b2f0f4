import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { DaemonMetrics } from '../src/observability/metrics.js';
import { buildRestServer } from '../src/rest/server.js';
import { mcpClient } from './helpers/mcp-client.js';
import { startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

// Libraries the first request does not need are loaded after the listener is up, or at their
// first use. Nothing seen before they are there may be lost, and their first use must work.
let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d?.stop();
});

const sampleValue = (text: string, line: RegExp) => Number(text.split('\n').find((l) => line.test(l))?.split(' ').at(-1) ?? NaN);

describe('metrics before their library is loaded', () => {
  test('a request timed and an app started before the load are counted once it is loaded, with their own durations', async () => {
    const metrics = new DaemonMetrics(d.daemon.supervisor, 'test');
    try {
      const began = performance.now();
      const done = metrics.httpRequestStarted('GET', '/early/:param');
      const app = `early-${Date.now()}`;
      expect((await d.request('PUT', `/appmesh/app/${app}`, { body: { name: app, command: 'sleep 30' } })).status).toBe(200);
      await waitFor(() => d.daemon.supervisor.get(app)?.running, 10_000, 'the app running');
      done(200);
      const spentSeconds = (performance.now() - began) / 1000;
      // A request begun before the load and ended after it is counted once as well.
      const straddling = metrics.httpRequestStarted('POST', '/early/:param');
      await metrics.load();
      straddling(201);
      const text = await metrics.exposition();
      expect(sampleValue(text, /^appmesh_http_requests_total\{.*method="GET",route="\/early\/:param",status_code="200"/)).toBe(1);
      expect(sampleValue(text, /^appmesh_http_requests_total\{.*method="POST",route="\/early\/:param",status_code="201"/)).toBe(1);
      expect(sampleValue(text, /^appmesh_http_requests_in_flight\{.*method="GET",route="\/early\/:param"/)).toBe(0);
      expect(sampleValue(text, new RegExp(`^appmesh_application_process_starts_total\\{.*application="${app}"`))).toBe(1);
      // The early request's duration is its own, not stretched to the load.
      expect(sampleValue(text, /^appmesh_http_request_duration_seconds_count\{.*method="GET",route="\/early\/:param"/)).toBe(1);
      expect(sampleValue(text, /^appmesh_http_request_duration_seconds_sum\{.*method="GET",route="\/early\/:param"/)).toBeLessThanOrEqual(spentSeconds);
      expect((await d.request('DELETE', `/appmesh/app/${app}`)).status).toBe(200);
    } finally {
      metrics.close();
    }
  });

  test('requests seen before a scrape bring the library in once they are many; none is lost', async () => {
    const metrics = new DaemonMetrics(d.daemon.supervisor, 'test');
    try {
      const request = () => metrics.httpRequestStarted('GET', '/many/:param')(200);
      for (let i = 0; i < 1_500; i++) request();
      // Time for the load those started.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // More than the daemon keeps aside before the library is there.
      for (let i = 0; i < 10_000; i++) request();
      const text = await metrics.exposition();
      expect(sampleValue(text, /^appmesh_http_requests_total\{.*method="GET",route="\/many\/:param",status_code="200"/)).toBe(11_500);
    } finally {
      metrics.close();
    }
  });

  test('the first scrape of a fresh daemon answers in the exposition format', async () => {
    const fresh = await startTestDaemon();
    try {
      const response = await fetch(`${fresh.url}/appmesh/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      expect(await response.text()).toContain('appmesh_build_info');
    } finally {
      await fresh.stop();
    }
  });
});

describe('libraries loaded at first use', () => {
  test('a fresh daemon serves a login, an MCP session and a TOTP secret at once', async () => {
    const fresh = await startTestDaemon();
    try {
      const client = await mcpClient(fresh.url, fresh.token);
      try {
        expect((await client.listTools()).tools.length).toBeGreaterThan(10);
      } finally {
        await client.close();
      }
      const secret = await fresh.request('POST', '/appmesh/totp/secret');
      expect(secret.status).toBe(200);
      expect(Buffer.from(((await secret.json()) as { mfa_uri: string }).mfa_uri, 'base64').toString()).toMatch(/^otpauth:\/\/totp\/admin\?secret=/);
    } finally {
      await fresh.stop();
    }
  });
});

describe('schema compilers loaded on use', () => {
  test('a route that brings a JSON schema is still validated and serialised by it', async () => {
    const app = buildRestServer(d.daemon.core, { bodyLimit: 10_000 });
    app.post('/schema-probe', {
      schema: {
        body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
        response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } },
      },
    }, async (request) => ({ n: (request.body as { n: number }).n, hidden: 'not in the response schema' }));
    try {
      const bad = await app.inject({ method: 'POST', url: '/schema-probe', payload: { n: 'x' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toHaveProperty('message');
      const good = await app.inject({ method: 'POST', url: '/schema-probe', payload: { n: 3 } });
      expect(good.statusCode).toBe(200);
      expect(good.json()).toEqual({ n: 3 });
    } finally {
      await app.close();
    }
  });
});
