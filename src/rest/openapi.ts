import { z } from 'zod';
import { appInputSchema } from '../supervisor/app-definition.js';
import { bulkRequestSchema } from '../service/app-selection.js';
import type { RouteEntry } from './server.js';

/** Paths that need no token. */
const PUBLIC = new Set([
  'POST /appmesh/login', 'POST /appmesh/totp/validate', 'GET /appmesh/app/{name}/health', 'GET /appmesh/metrics', 'GET /metrics',
  'GET /appmesh/readyz', 'GET /openapi.json', 'GET /appmesh/app/{name}/task', 'PUT /appmesh/app/{name}/task',
]);
/** Bodies that are an application definition. */
const APP_BODY = new Set(['PUT /appmesh/app/{name}', 'POST /appmesh/app/run', 'POST /appmesh/app/syncrun']);
/** Bodies with a schema of their own, by route. */
const OTHER_BODIES: Record<string, string> = { 'POST /appmesh/applications/bulk': 'BulkRequest' };

/**
 * The OpenAPI document of the REST face, made from the routes actually registered and from the
 * same zod schema that validates app definitions: nothing here can drift from what is served.
 */
export function openApiDocument(routes: readonly RouteEntry[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, url } of routes) {
    if (method === 'HEAD' || !url.startsWith('/appmesh/') && url !== '/metrics') continue;
    const path = url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const key = `${method} ${path}`;
    const parameters = [...path.matchAll(/\{([A-Za-z_]+)\}/g)].map(([, name]) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
    paths[path] ??= {};
    paths[path][method.toLowerCase()] = {
      operationId: `${method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/\/(\w)/g, (_, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '')}`,
      ...(parameters.length ? { parameters } : {}),
      ...(PUBLIC.has(key) ? { security: [] } : {}),
      ...(APP_BODY.has(key) ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Application' } } } } } : {}),
      ...(OTHER_BODIES[key] ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${OTHER_BODIES[key]}` } } } } } : {}),
      responses: {
        200: { description: 'Success' },
        default: { description: 'Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Message' } } } },
      },
    };
  }
  const { $schema: _dialect, ...application } = z.toJSONSchema(appInputSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  const { $schema: _bulkDialect, ...bulkRequest } = z.toJSONSchema(bulkRequestSchema, { io: 'input' }) as Record<string, unknown>;
  return {
    openapi: '3.1.0',
    info: { title: 'App Mesh TS REST API', version, description: 'Compatible with the App Mesh REST API. Errors are {"message": ...}.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }, { cookie: [] }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        cookie: { type: 'apiKey', in: 'cookie', name: 'appmesh_auth_token' },
        basic: { type: 'http', scheme: 'basic' },
      },
      schemas: {
        Application: application,
        BulkRequest: bulkRequest,
        Message: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
      },
    },
  };
}
