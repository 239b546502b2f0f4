import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(async () => {
  await d.stop();
});

describe('GET /openapi.json', () => {
  test('describes every REST route, with the app schema the daemon validates with', async () => {
    const response = await d.request('GET', '/openapi.json', { token: null });
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>>;
      components: { schemas: { Application: { properties: Record<string, unknown> }; BulkRequest: { properties: Record<string, unknown> } } };
    };
    expect(document.openapi).toBe('3.1.0');
    for (const { method, url } of d.daemon.rest.routeTable) {
      if (method === 'HEAD' || !url.startsWith('/appmesh/')) continue;
      const path = url.replace(/:([A-Za-z_]+)/g, '{$1}');
      expect(document.paths[path]?.[method.toLowerCase()], `${method} ${path}`).toBeDefined();
    }
    expect(document.paths['/appmesh/login'].post.security).toEqual([]);
    expect(document.paths['/appmesh/applications'].get.security).toBeUndefined();
    expect(document.paths['/appmesh/app/syncrun'].post.requestBody).toBeDefined();
    expect(document.paths['/appmesh/applications/bulk'].post.requestBody).toBeDefined();
    expect(Object.keys(document.components.schemas.BulkRequest.properties).sort()).toEqual(['action', 'all', 'names', 'selector']);
    expect(document.components.schemas.Application.properties.labels).toBeDefined();
    for (const field of ['name', 'command', 'behavior', 'start_interval_seconds', 'sec_env', 'daily_limitation']) {
      expect(document.components.schemas.Application.properties[field], field).toBeDefined();
    }
  });
});
