import type { AuditLog } from '../audit/audit-log.js';
import type { Principal } from '../auth/principal.js';
import type { Application } from '../supervisor/application.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { DurationSyntaxError, parseQueryInteger } from '../supervisor/schedule/duration.js';
import type { Authorizer } from './authorize.js';
import { badRequest, noSuchApp } from './errors.js';

const DEFAULT_TASK_TIMEOUT = 300;
const MAX_TASK_TIMEOUT = 259_200;

/** Remote tasks: clients send work to a running app; its worker fetches and answers it. */
export class TaskService {
  constructor(
    private readonly supervisor: Supervisor,
    private readonly authorizer: Authorizer,
    private readonly audit: AuditLog,
  ) {}

  async send(principal: Principal, name: string, payload: Buffer, timeout: string | undefined, abort?: AbortSignal): Promise<Buffer> {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-run-task', app.definition, 'write');
    let seconds: number;
    try {
      seconds = parseQueryInteger(timeout, DEFAULT_TASK_TIMEOUT, 0, MAX_TASK_TIMEOUT);
    } catch (error) {
      if (error instanceof DurationSyntaxError) throw badRequest(error.message);
      throw error;
    }
    this.audit.record({ event: 'app.task', user: principal.name, target: name, client: principal.client, outcome: 'success', detail: `${payload.length} bytes` });
    return app.tasks.send(payload, seconds, abort);
  }

  /** True when an active task was cancelled (200), false when there was none (208). */
  cancel(principal: Principal, name: string): boolean {
    const app = this.find(name);
    this.authorizer.authorize(principal, 'app-run-task', app.definition, 'write');
    return app.tasks.cancelActive();
  }

  /** Worker side: no token, the run's `APP_MESH_PROCESS_KEY` proves who is asking. */
  fetch(name: string, processKey: string | undefined, abort?: AbortSignal): Promise<Buffer> {
    return this.find(name).tasks.fetch(processKey ?? '', abort);
  }

  reply(name: string, processKey: string | undefined, result: Buffer): void {
    this.find(name).tasks.reply(processKey ?? '', result);
  }

  private find(name: string): Application {
    const app = this.supervisor.get(name);
    if (!app) throw noSuchApp();
    return app;
  }
}

