import { secretsEqual } from '../../auth/password.js';
import { ServiceError } from '../../service/errors.js';

const MAX_QUEUE = 512;

interface PendingTask {
  payload: Buffer;
  /** Its client gave up (timeout, cancel, hang-up): the worker's reply is accepted and dropped. */
  orphaned?: boolean;
  resolve: (result: Buffer) => void;
  reject: (error: ServiceError) => void;
}

interface ParkedFetch {
  key: string;
  resolve: (payload: Buffer) => void;
  reject: (error: ServiceError) => void;
}

const gone = () => new ServiceError(417, '', true);

/**
 * Request/response between clients and the worker process of one app (App Mesh's task API).
 * A FIFO of client requests, at most one active task (delivered, not yet answered), at most one
 * parked worker fetch. Everything pending ends with 417 when the run ends or is replaced.
 */
export class TaskChannel {
  private processKey?: string;
  private readonly queue: PendingTask[] = [];
  private active?: PendingTask;
  private parked?: ParkedFetch;
  /** Number of tasks sent to this app (`task_id`). */
  counter = 0;

  /** `task_status` of the app view: idle (a worker waits), busy (work pending) or "". */
  get status(): 'idle' | 'busy' | '' {
    // An orphaned active task still occupies the worker until it replies.
    if (this.active || this.queue.length) return 'busy';
    return this.parked ? 'idle' : '';
  }

  runStarted(processKey: string): void {
    this.failAll();
    this.processKey = processKey;
  }

  runEnded(): void {
    this.failAll();
    this.processKey = undefined;
  }

  /** A client's task: resolves with the worker's reply. */
  send(payload: Buffer, timeoutSeconds: number, abort?: AbortSignal): Promise<Buffer> {
    if (!this.processKey) return Promise.reject(new ServiceError(400, 'No process running'));
    if (this.queue.length >= MAX_QUEUE) return Promise.reject(new ServiceError(503, 'task queue full, try again later'));
    this.counter++;
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        abort?.removeEventListener('abort', onAbort);
      };
      const task: PendingTask = {
        payload,
        resolve: (result) => {
          finish();
          resolve(result);
        },
        reject: (error) => {
          finish();
          reject(error);
        },
      };
      const withdraw = (error: ServiceError) => {
        const index = this.queue.indexOf(task);
        if (index >= 0) this.queue.splice(index, 1);
        // A delivered task stays active so the worker's reply is not refused (its SDK would exit).
        task.orphaned = true;
        task.reject(error);
      };
      const onAbort = () => withdraw(new ServiceError(499, 'client closed the request', true));
      if (timeoutSeconds > 0) timer = setTimeout(() => withdraw(new ServiceError(408, '', true)), timeoutSeconds * 1000);
      abort?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(task);
      this.deliver();
    });
  }

  /** Cancels the active task (its client gets 417); false when none was active. */
  cancelActive(): boolean {
    const task = this.active;
    if (!task || task.orphaned) return false;
    task.orphaned = true;
    task.reject(gone());
    return true;
  }

  /** The worker asks for work: the unanswered active task again, else the next one, else wait. */
  fetch(key: string, abort?: AbortSignal): Promise<Buffer> {
    this.checkKey(key);
    if (this.active) return Promise.resolve(this.active.payload);
    return new Promise<Buffer>((resolve, reject) => {
      // A newer fetch replaces a parked one.
      this.parked?.reject(new ServiceError(503, 'replaced by a newer fetch'));
      const parked: ParkedFetch = { key, resolve, reject };
      this.parked = parked;
      abort?.addEventListener('abort', () => {
        if (this.parked === parked) this.parked = undefined;
      }, { once: true });
      this.deliver();
    });
  }

  /** The worker's result for the active task. */
  reply(key: string, result: Buffer): void {
    this.checkKey(key);
    const task = this.active;
    if (!task) throw new ServiceError(417, 'no message request from client waiting for response');
    this.active = undefined;
    task.resolve(result);
    this.deliver();
  }

  private deliver(): void {
    if (this.active || !this.parked || this.queue.length === 0) return;
    const task = this.queue.shift()!;
    const parked = this.parked;
    this.parked = undefined;
    this.active = task;
    parked.resolve(task.payload);
  }

  private checkKey(key: string): void {
    if (!this.processKey || !secretsEqual(key, this.processKey)) throw new ServiceError(412, 'Process key mismatch');
  }

  private failAll(): void {
    const pending = [...(this.active ? [this.active] : []), ...this.queue.splice(0)];
    this.active = undefined;
    for (const task of pending) if (!task.orphaned) task.reject(gone());
    this.parked?.reject(gone());
    this.parked = undefined;
  }
}
