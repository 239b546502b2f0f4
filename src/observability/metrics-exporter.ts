import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MetricsExporter {
  readonly port: number;
  close(): Promise<void>;
}

export interface MetricsExporterOptions {
  address: string;
  port: number;
  metrics: () => Promise<{ contentType: string; text: string }>;
}

// Nothing here reads a body or holds a request long: a few connections and short timeouts suffice.
const MAX_CONNECTIONS = 64;
const TIMEOUT_MS = 10_000;

/**
 * `REST.PrometheusExporterListenPort`: a plain-HTTP listener for scrapers that cannot hold a
 * token or speak TLS. It serves the same text as `/metrics` on the REST listener and nothing else.
 */
export async function startMetricsExporter(options: MetricsExporterOptions): Promise<MetricsExporter> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.headers['x-target-host'] !== undefined) return reply(400, 'application/json', JSON.stringify({ message: 'X-Target-Host is not relayed by the metrics exporter' }));
    if (path === '/metrics') {
      if (request.method !== 'GET' && request.method !== 'HEAD') return reply(405, 'application/json', JSON.stringify({ message: `Method ${request.method} not allowed` }));
      options.metrics().then(
        ({ contentType, text }) => reply(200, contentType, text),
        (error: Error) => reply(503, 'application/json', JSON.stringify({ message: `metrics unavailable: ${error.message}` })),
      );
      return;
    }
    if (path === '/' && (request.method === 'GET' || request.method === 'HEAD')) return reply(200, 'text/plain; charset=utf-8', 'App Mesh TS metrics exporter: GET /metrics\n');
    reply(404, 'application/json', JSON.stringify({ message: `Path not found ${request.method}:${path}` }));
  });
  server.maxConnections = MAX_CONNECTIONS;
  server.headersTimeout = TIMEOUT_MS;
  server.requestTimeout = TIMEOUT_MS;
  server.keepAliveTimeout = TIMEOUT_MS / 2;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
