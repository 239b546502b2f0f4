import type { AppEvent } from '../supervisor/events.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { MetricSet, TimedRequestDone } from './metric-set.js';

/** Called once when a request is done: its status, or `undefined` when it was never replied. */
export type HttpRequestDone = (statusCode: number | undefined) => void;

/** The exposition format's content type (what prom-client's registry answers). */
const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** What happens before the metric library is loaded is kept until then, within these bounds. */
const MAX_EARLY_EVENTS = 100_000;
const MAX_EARLY_REQUESTS = 10_000;
/** So many kept aside load the library (a busy daemon needs it anyway; an idle one never does). */
const LOAD_AFTER_EARLY = 1_000;

interface EarlyRequest {
  method: string;
  route: string;
  startedAt: bigint;
  /** Set once the metric set is loaded: the request's end goes there. */
  forward?: TimedRequestDone;
  ended?: { statusCode: number | undefined; at: bigint };
}

/**
 * The daemon's Prometheus metrics. The metric library (its memory, its loop-delay and GC
 * monitors) is loaded by the first scrape, or once many events or requests wait for it: a daemon
 * nobody scrapes and little asks never carries it. Events and requests seen before are counted
 * once it is there, with their own times.
 */
export class DaemonMetrics {
  private set: MetricSet | undefined;
  private loading: Promise<MetricSet> | undefined;
  private closed = false;
  private earlyEvents: AppEvent[] = [];
  private earlyRequests: EarlyRequest[] = [];
  private readonly onEvent = (event: AppEvent) => {
    if (this.set) this.set.handleEvent(event);
    else if (this.earlyEvents.length < MAX_EARLY_EVENTS) this.keptAside(this.earlyEvents.push(event));
  };

  constructor(private readonly supervisor: Supervisor, private readonly version: string) {
    supervisor.events.on('event', this.onEvent);
  }

  get contentType(): string {
    return EXPOSITION_CONTENT_TYPE;
  }

  /** Loads the metric library and replays what came before; once. */
  load(): Promise<MetricSet> {
    this.loading ??= import('./metric-set.js').then(({ MetricSet }) => {
      const set = new MetricSet(this.supervisor, this.version);
      for (const event of this.earlyEvents) set.handleEvent(event);
      for (const request of this.earlyRequests) {
        request.forward = set.httpRequestStarted(request.method, request.route, request.startedAt);
        if (request.ended) request.forward(request.ended.statusCode, request.ended.at);
      }
      this.earlyEvents = [];
      this.earlyRequests = [];
      this.set = set;
      return set;
    });
    return this.loading;
  }

  recordScrape(): void {
    if (this.set) this.set.recordScrape();
    else void this.load().then((set) => set.recordScrape());
  }

  /** The exposition text, with every gauge refreshed now. */
  async exposition(): Promise<string> {
    return (this.set ?? (await this.load())).exposition();
  }

  /** Starts timing a request; the returned function records its end (call it once). */
  httpRequestStarted(method: string, route: string): HttpRequestDone {
    if (this.set) return this.set.httpRequestStarted(method, route);
    const request: EarlyRequest = { method, route, startedAt: process.hrtime.bigint() };
    if (this.earlyRequests.length < MAX_EARLY_REQUESTS) this.keptAside(this.earlyRequests.push(request));
    return (statusCode) => {
      if (request.forward) request.forward(statusCode);
      else request.ended = { statusCode, at: process.hrtime.bigint() };
    };
  }

  close(): void {
    this.closed = true;
    this.supervisor.events.off('event', this.onEvent);
  }

  private keptAside(count: number): void {
    if (count === LOAD_AFTER_EARLY && !this.closed) void this.load().catch(() => undefined);
  }
}
