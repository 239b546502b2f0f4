import type { Principal } from '../auth/principal.js';
import type { ContainmentReport } from '../containment/containment.js';
import { collectHostResources, type HostResources } from '../observability/host-resources.js';
import type { DaemonMetrics, HttpRequestDone } from '../observability/metrics.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import type { Authorizer } from './authorize.js';

const NO_CONTAINMENT: ContainmentReport = {
  cgroups: { mode: 'none', controllers: [], reason: 'the supervisor was started without containment' },
  launcher: { program: 'sh', privilege_drop: 'spawn-options' },
};

export interface ObservabilitySettings {
  version: string;
  /** The daemon's folder (reported as `home`). */
  home: string;
  description: () => string;
  timezoneOffsetMinutes: () => number | undefined;
}

export interface MetricsText {
  contentType: string;
  text: string;
}

/** Metrics and host resources: one method per operation, authorised here for every face. */
export class ObservabilityService {
  private readonly startedAtMs = Date.now();

  constructor(
    private readonly metrics: DaemonMetrics,
    private readonly supervisor: Supervisor,
    private readonly authorizer: Authorizer,
    private readonly settings: ObservabilitySettings,
  ) {}

  /** Prometheus exposition text. No authentication: scrapers carry no token. */
  async metricsText(): Promise<MetricsText> {
    this.metrics.recordScrape();
    return { contentType: this.metrics.contentType, text: await this.metrics.exposition() };
  }

  async resources(principal: Principal): Promise<HostResources> {
    this.authorizer.authorize(principal, 'host-resource-view');
    return collectHostResources({
      appProcessGroups: this.supervisor.list().filter((app) => app.running).map((app) => app.run!.pid),
      version: this.settings.version,
      description: this.settings.description(),
      home: this.settings.home,
      startedAtMs: this.startedAtMs,
      timezoneOffsetMinutes: this.settings.timezoneOffsetMinutes(),
      containment: this.supervisor.containment?.report() ?? NO_CONTAINMENT,
    });
  }

  /** Instrumentation for the faces: starts timing a request of `method` on `route`. */
  requestStarted(method: string, route: string): HttpRequestDone {
    return this.metrics.httpRequestStarted(method, route);
  }

  close(): void {
    this.metrics.close();
  }
}
