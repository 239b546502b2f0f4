import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Application } from '../supervisor/application.js';
import type { AppEvent } from '../supervisor/events.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { readGroupUsage } from '../supervisor/process/proc-stats.js';
import { daemonTreeUsage } from './daemon-usage.js';

const CLOCK_TICKS_PER_SECOND = 100;
/** The loop-delay histogram's sampling timer (the default 10 ms wakes the daemon 100 times a second). */
const LOOP_DELAY_RESOLUTION_MS = 200;
const HTTP_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];
const HTTP_METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS']);

type HttpLabels = 'method' | 'route';
type HttpResultLabels = HttpLabels | 'status_code' | 'status_class';

/** Called once when a request is done: its status (`undefined` when never replied), and when it ended (default now). */
export type TimedRequestDone = (statusCode: number | undefined, endedAt?: bigint) => void;

interface HttpSeries {
  labels: { method: string; route: string };
  inFlight: Gauge.Internal<HttpLabels>;
  duration: Histogram.Internal<HttpLabels>;
  /** By status code. */
  results: Map<string, Counter.Internal>;
}

interface CpuSample {
  pid: number;
  ticks: number;
  atMs: number;
}

/**
 * The daemon's Prometheus metrics (prom-client), in a registry of its own (several daemons may
 * share one process, e.g. in tests). Names, types, labels and buckets follow App Mesh.
 *
 * Deviations from the original, on purpose: the per-application series and the fd gauges are
 * always maintained (not only while the exporter port is enabled), and every gauge is refreshed
 * when a scrape is served instead of by the scheduler tick, so a scrape never shows stale values.
 */
export class MetricSet {
  readonly registry = new Registry();
  private readonly scrapes: Counter;
  private readonly collectionErrors: Counter;
  private readonly openFds: Gauge;
  private readonly httpRequests: Counter<HttpResultLabels>;
  private readonly httpDuration: Histogram<HttpLabels>;
  private readonly httpInFlight: Gauge<HttpLabels>;
  private readonly app: {
    starts: Counter<'application'>;
    collectionErrors: Counter<'application'>;
    pid: Gauge<'application'>;
    memory: Gauge<'application'>;
    cpu: Gauge<'application'>;
    fds: Gauge<'application'>;
    enabled: Gauge<'application'>;
    running: Gauge<'application'>;
    healthy: Gauge<'application'>;
  };
  /**
   * The HTTP series of each method and route, bound once: prom-client works out a series' key
   * from its labels at every inc and observe given labels. Bounded: routes are the API's
   * patterns, statuses a few dozen.
   */
  private readonly httpSeries = new Map<string, HttpSeries>();
  /** Apps that currently have series (removed from every per-app metric when they go). */
  private readonly tracked = new Set<string>();
  private readonly cpuSamples = new Map<string, CpuSample>();
  private runtimeMetricsStarted = false;

  constructor(private readonly supervisor: Supervisor, version: string) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ host: hostname() });

    this.scrapes = new Counter({ name: 'appmesh_metrics_scrapes_total', help: 'Prometheus scrapes served', registers });
    this.collectionErrors = new Counter({ name: 'appmesh_metrics_collection_errors_total', help: 'Failed process statistics collections', registers });
    this.openFds = new Gauge({ name: 'appmesh_process_open_fds', help: 'Open file descriptors of the daemon process tree', registers });
    new Gauge({ name: 'appmesh_process_id', help: 'Process id of the daemon', registers }).set(process.pid);
    new Gauge({ name: 'appmesh_build_info', help: 'Build information of the daemon', labelNames: ['version'], registers }).set({ version }, 1);

    this.httpRequests = new Counter({
      name: 'appmesh_http_requests_total',
      help: 'Finished HTTP requests',
      labelNames: ['method', 'route', 'status_code', 'status_class'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'appmesh_http_request_duration_seconds',
      help: 'HTTP request latency until the reply',
      labelNames: ['method', 'route'],
      buckets: HTTP_DURATION_BUCKETS,
      registers,
    });
    this.httpInFlight = new Gauge({ name: 'appmesh_http_requests_in_flight', help: 'HTTP requests not yet replied', labelNames: ['method', 'route'], registers });

    const perApp = { labelNames: ['application'] as const, registers };
    this.app = {
      starts: new Counter({ name: 'appmesh_application_process_starts_total', help: 'Accepted process starts of the application', ...perApp }),
      collectionErrors: new Counter({ name: 'appmesh_application_metrics_collection_errors_total', help: 'Failed statistics collections of the application', ...perApp }),
      pid: new Gauge({ name: 'appmesh_application_process_id', help: 'Process id of the application, 0 when stopped', ...perApp }),
      memory: new Gauge({ name: 'appmesh_application_process_resident_memory_bytes', help: 'Resident memory of the application process tree', ...perApp }),
      cpu: new Gauge({ name: 'appmesh_application_process_cpu_usage_cores', help: 'CPU usage of the application process tree in cores', ...perApp }),
      fds: new Gauge({ name: 'appmesh_application_process_open_fds', help: 'Open file descriptors of the application process tree', ...perApp }),
      enabled: new Gauge({ name: 'appmesh_application_enabled', help: '1 if the application is enabled', ...perApp }),
      running: new Gauge({ name: 'appmesh_application_running', help: '1 if a process of the application runs', ...perApp }),
      healthy: new Gauge({ name: 'appmesh_application_healthy', help: '1 if the application runs and is healthy', ...perApp }),
    };
  }

  recordScrape(): void {
    this.scrapes.inc();
  }

  /** The exposition text, with every gauge refreshed now. */
  async exposition(): Promise<string> {
    this.startRuntimeMetrics();
    await this.refresh();
    // prom-client writes NaN as "Nan"; the exposition format spells it "NaN".
    return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
  }

  /** Starts timing a request; the returned function records its end (call it once). */
  httpRequestStarted(rawMethod: string, route: string, startedAt = process.hrtime.bigint()): TimedRequestDone {
    const method = HTTP_METHODS.has(rawMethod) ? rawMethod : 'OTHER';
    const key = `${method} ${route}`;
    let series = this.httpSeries.get(key);
    if (!series) {
      const labels = { method, route };
      series = { labels, inFlight: this.httpInFlight.labels(labels), duration: this.httpDuration.labels(labels), results: new Map() };
      this.httpSeries.set(key, series);
    }
    const bound = series;
    bound.inFlight.inc();
    return (statusCode, endedAt = process.hrtime.bigint()) => {
      bound.inFlight.dec();
      bound.duration.observe(Number(endedAt - startedAt) / 1e9);
      const code = statusCode === undefined ? 'unreplied' : String(statusCode);
      let result = bound.results.get(code);
      if (!result) {
        const statusClass = statusCode === undefined ? 'unreplied' : `${Math.floor(statusCode / 100)}xx`;
        result = this.httpRequests.labels({ ...bound.labels, status_code: code, status_class: statusClass });
        bound.results.set(code, result);
      }
      result.inc();
    };
  }

  /**
   * Node's own metrics (CPU, heap, GC, event-loop delay), from the first scrape on. Their
   * loop-delay histogram samples with a timer that wakes the daemon five times a second (at the
   * default 10 ms, a hundred): in a daemon nobody scrapes, that timer was most of its idle CPU,
   * spent on figures nobody reads. The others are read at each scrape anyway; garbage
   * collections are counted from then on.
   */
  private startRuntimeMetrics(): void {
    if (this.runtimeMetricsStarted) return;
    this.runtimeMetricsStarted = true;
    // Own prefix: the plain `appmesh_process_*` names belong to App Mesh's own metrics.
    collectDefaultMetrics({ register: this.registry, prefix: 'appmesh_nodejs_', eventLoopMonitoringPrecision: LOOP_DELAY_RESOLUTION_MS });
  }

  handleEvent(event: AppEvent): void {
    if (event.event_type === 'REMOVED') {
      this.untrack(event.app_name);
      return;
    }
    if (event.event_type !== 'START') return;
    // Runs (run/syncrun) are temporary apps: they never get series.
    if (this.supervisor.get(event.app_name)?.kind !== 'managed') return;
    this.tracked.add(event.app_name);
    this.app.starts.inc({ application: event.app_name });
  }

  private async refresh(): Promise<void> {
    const apps = this.supervisor.list();
    const managed = apps.filter((app) => app.kind === 'managed');
    const present = new Set(managed.map((app) => app.name));
    for (const name of this.tracked) if (!present.has(name)) this.untrack(name);

    const pgids = new Set(apps.filter((app) => app.running).map((app) => app.run!.pid));
    const usage = await readGroupUsage([...pgids]);
    const tree = await daemonTreeUsage([...usage.values()]);
    this.openFds.set(tree.fds);

    const now = Date.now();
    for (const app of managed) {
      const labels = { application: app.name };
      this.tracked.add(app.name);
      // Adding 0 creates the counters' series of an app that never started (or never failed).
      this.app.starts.inc(labels, 0);
      this.app.collectionErrors.inc(labels, 0);
      const running = app.running;
      const pid = running ? app.run!.pid : 0;
      const stats = running ? usage.get(pid) : undefined;
      // A process that started or ended around the scan is no collection failure.
      if (running && !stats && pgids.has(pid) && existsSync(`/proc/${pid}`)) {
        this.collectionErrors.inc();
        this.app.collectionErrors.inc(labels);
      }
      this.app.pid.set(labels, pid);
      this.app.memory.set(labels, stats?.memoryBytes ?? 0);
      this.app.fds.set(labels, stats?.fds ?? 0);
      this.app.cpu.set(labels, stats ? this.cpuCores(app, pid, stats.cpuTicks, now) : 0);
      this.app.enabled.set(labels, app.enabled ? 1 : 0);
      this.app.running.set(labels, running ? 1 : 0);
      this.app.healthy.set(labels, running && app.health === 0 ? 1 : 0);
      if (!stats) this.cpuSamples.delete(app.name);
    }
  }

  /** CPU since the previous scrape (or since the start), in cores. */
  private cpuCores(app: Application, pid: number, ticks: number, nowMs: number): number {
    const previous = this.cpuSamples.get(app.name);
    this.cpuSamples.set(app.name, { pid, ticks, atMs: nowMs });
    const same = previous !== undefined && previous.pid === pid;
    const sinceMs = same ? nowMs - previous.atMs : nowMs - (app.run?.startedAtMs ?? nowMs);
    const delta = same ? ticks - previous.ticks : ticks;
    if (sinceMs <= 0 || delta < 0) return 0;
    return Math.round((delta / CLOCK_TICKS_PER_SECOND / (sinceMs / 1000)) * 10_000) / 10_000;
  }

  private untrack(name: string): void {
    this.tracked.delete(name);
    this.cpuSamples.delete(name);
    for (const metric of Object.values(this.app)) metric.remove({ application: name });
  }
}
