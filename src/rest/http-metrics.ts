import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { HttpRequestDone } from '../observability/metrics.js';
import type { ObservabilityService } from '../service/observability-service.js';

/** Scrapes are not recorded: they would dominate the request counts. */
export const METRICS_PATHS = new Set(['/appmesh/metrics', '/metrics']);

/** Labels by route template: a server has a fixed set of routes, each labelled once. */
const labels = new Map<string, string>();

/** `/appmesh/app/:name/output` → `/appmesh/app/:param/output`; no route → `unmatched`. */
export function routeLabel(request: FastifyRequest): string {
  const template = request.routeOptions.url;
  if (template === undefined) return 'unmatched';
  let label = labels.get(template);
  if (label === undefined) labels.set(template, (label = template.replace(/:[^/]+/g, ':param')));
  return label;
}

/**
 * Counts, times and tracks in-flight requests. Registered before any other hook, so requests a
 * later hook answers (e.g. the 405 of unknown methods) are counted too.
 */
export function registerHttpMetrics(app: FastifyInstance, observability: ObservabilityService): void {
  const pending = new WeakMap<FastifyRequest, HttpRequestDone>();
  const finish = (request: FastifyRequest, statusCode: number | undefined) => {
    const done = pending.get(request);
    if (!done) return;
    pending.delete(request);
    done(statusCode);
  };

  // Callback hooks: they finish in the same turn, without a promise per request and hook.
  app.addHook('onRequest', (request, reply, done) => {
    const template = request.routeOptions.url;
    if (template === undefined || !METRICS_PATHS.has(template)) {
      pending.set(request, observability.requestStarted(request.method, routeLabel(request)));
      // A connection closed before the reply went out never reaches onResponse.
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) finish(request, undefined);
      });
    }
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    finish(request, reply.statusCode);
    done();
  });
}
