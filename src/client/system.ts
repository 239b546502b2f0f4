import type { Session } from './session.js';
import type { ConfigDocument, HostResources } from './types.js';

/** A partial configuration: only the keys to change (a merge patch). */
export type ConfigPatch = { [Section in keyof ConfigDocument]?: Partial<ConfigDocument[Section]> };

/** Configuration, labels, host resources and metrics. */
export class SystemApi {
  constructor(private readonly session: Session) {}

  config(): Promise<ConfigDocument> {
    return this.session.json('GET', '/appmesh/config');
  }

  /** Merges the patch; answers the whole configuration after the change. */
  updateConfig(patch: ConfigPatch): Promise<ConfigDocument> {
    return this.session.json('POST', '/appmesh/config', { body: patch });
  }

  /** Sets the daemon's log level (DEBUG, INFO, NOTICE, WARN, ERROR). */
  async setLogLevel(level: ConfigDocument['BaseConfig']['LogLevel']): Promise<string> {
    const config = await this.updateConfig({ BaseConfig: { LogLevel: level } });
    return config.BaseConfig.LogLevel;
  }

  labels(): Promise<Record<string, string>> {
    return this.session.json('GET', '/appmesh/labels');
  }

  setLabel(name: string, value: string): Promise<string> {
    return this.session.message('PUT', `/appmesh/label/${encodeURIComponent(name)}`, { query: { value } });
  }

  removeLabel(name: string): Promise<string> {
    return this.session.message('DELETE', `/appmesh/label/${encodeURIComponent(name)}`);
  }

  resources(): Promise<HostResources> {
    return this.session.json('GET', '/appmesh/resources');
  }

  /** Prometheus text. */
  async metrics(): Promise<string> {
    return (await this.session.request('GET', '/appmesh/metrics')).text();
  }

  /** True once the daemon answers (no token needed). */
  async ready(): Promise<boolean> {
    const response = await this.session.request('GET', '/appmesh/readyz', { auth: false });
    return (await response.text()).trim() === 'OK';
  }
}
