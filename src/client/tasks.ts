import type { Session } from './session.js';

const task = (name: string) => `/appmesh/app/${encodeURIComponent(name)}/task`;

/** Remote tasks: payloads sent to a running app, whose worker fetches and answers them. */
export class TasksApi {
  constructor(private readonly session: Session) {}

  /** Sends a payload and waits (up to `timeoutSeconds`) for the app's answer. */
  async send(name: string, payload: string | Uint8Array, options: { timeoutSeconds?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    const response = await this.session.request('POST', task(name), {
      body: payload,
      query: { timeout: options.timeoutSeconds },
      headers: { 'Content-Type': 'application/octet-stream' },
      signal: options.signal,
    });
    return Buffer.from(await response.arrayBuffer());
  }

  /** Cancels the task in flight; false when there was none. */
  async cancel(name: string): Promise<boolean> {
    const response = await this.session.request('DELETE', task(name));
    return response.status === 200;
  }

  /** In the worker (the app's process): waits for the next payload of its run (`processKey`). */
  async fetch(name: string, processKey: string, signal?: AbortSignal): Promise<Buffer> {
    const response = await this.session.request('GET', task(name), { query: { process_key: processKey }, signal });
    return Buffer.from(await response.arrayBuffer());
  }

  /** In the worker: answers the payload it fetched. */
  async reply(name: string, processKey: string, result: string | Uint8Array): Promise<void> {
    await this.session.request('PUT', task(name), { query: { process_key: processKey }, body: result, headers: { 'Content-Type': 'application/octet-stream' } });
  }
}
