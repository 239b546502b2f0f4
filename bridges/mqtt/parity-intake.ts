import { randomUUID } from 'node:crypto';
import type { Core } from '../../src/service/core.js';
import type { Logger } from '../../src/util/log.js';
import type { MqttRequest } from './request-schema.js';

export interface ParitySettings {
  topics: readonly string[];
  app: string;
  timeoutSeconds: number;
  user: string;
  password: string;
}

// Renew the bridge's own token this long before it expires.
const RENEW_MARGIN_SECONDS = 60;
// After a failed login, payloads are dropped for a while rather than each trying (and logging) again.
const LOGIN_RETRY_MS = 30_000;

/**
 * The original daemon's telemetry bridge: every payload on the configured topics (default
 * `devices/temperature`) is forwarded unchanged as a task to one app (default `pytask`), as the
 * configured user. Off while no user is configured. The result is discarded, unless the device
 * gave an MQTT 5 response topic.
 */
export class ParityIntake {
  private token?: { value: string; expiresAt: number };
  private loginFailedAt = 0;

  constructor(private readonly core: Core, private readonly settings: ParitySettings, private readonly log: Logger) {}

  get topics(): readonly string[] {
    return this.settings.user ? this.settings.topics : [];
  }

  async request(payload: Buffer, uuid: string = randomUUID()): Promise<MqttRequest | undefined> {
    const token = await this.bearer();
    if (!token) return undefined;
    return {
      uuid,
      http_method: 'POST',
      request_uri: `/appmesh/app/${encodeURIComponent(this.settings.app)}/task`,
      query: { timeout: String(this.settings.timeoutSeconds) },
      headers: { Authorization: `Bearer ${token}` },
      body: payload.toString('base64'),
      body_encoding: 'base64',
    };
  }

  /** A 401 means the token was revoked: log in again next time. */
  forgetToken(): void {
    this.token = undefined;
  }

  private async bearer(): Promise<string | undefined> {
    const now = Math.floor(Date.now() / 1000);
    if (this.token && this.token.expiresAt - RENEW_MARGIN_SECONDS > now) return this.token.value;
    if (Date.now() - this.loginFailedAt < LOGIN_RETRY_MS) return undefined;
    try {
      const basic = Buffer.from(`${this.settings.user}:${this.settings.password}`).toString('base64');
      const issued = await this.core.auth.login({ authorization: `Basic ${basic}`, client: 'mqtt-telemetry' });
      this.token = { value: issued.access_token, expiresAt: issued.expire_time };
      return issued.access_token;
    } catch (error) {
      this.loginFailedAt = Date.now();
      this.log.warn(`MQTT telemetry intake: login as ${this.settings.user} failed (payloads dropped for ${LOGIN_RETRY_MS / 1000} s): ${(error as Error).message}`);
      return undefined;
    }
  }
}
