import { randomBytes } from 'node:crypto';
import type { CreateTaskOptions, TaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import type { Core } from '../src/service/core.js';

/** A task's result stays readable this long after it ends unless the client asks for less. */
export const DEFAULT_TASK_TTL_MS = 60 * 60 * 1000;
/** The longest a client may ask to keep a task: runs themselves are reclaimed after a day or so. */
export const MAX_TASK_TTL_MS = 24 * 60 * 60 * 1000;
/** Tasks one user may hold at once (working or kept for their result). */
export const MAX_TASKS_PER_USER = 1000;
const POLL_INTERVAL_MS = 1000;

interface StoredTask {
  owner: string;
  task: Task;
  result?: Result;
  /** Stops the work behind a working task (the run's process tree). */
  cancel?: () => void;
  expiry?: NodeJS.Timeout;
}

const isTerminal = (status: Task['status']) => status === 'completed' || status === 'failed' || status === 'cancelled';

/**
 * The daemon's MCP tasks, kept across sessions: a task belongs to the user who created it (not
 * to the session), so a client that reconnects within the TTL finds it again, and no other user
 * can see, read or cancel it.
 */
export class UserTasks {
  private readonly tasks = new Map<string, StoredTask>();

  /** The TaskStore one session hands the SDK: every lookup is bound to that session's user. */
  storeFor(owner: string): TaskStore {
    return new OwnerTaskStore(this, owner);
  }

  create(owner: string, options: CreateTaskOptions): Task {
    let held = 0;
    for (const stored of this.tasks.values()) if (stored.owner === owner) held++;
    if (held >= MAX_TASKS_PER_USER) throw new Error(`Too many tasks: ${owner} holds ${held} (at most ${MAX_TASKS_PER_USER}); cancel some or wait for their TTL`);
    const now = new Date().toISOString();
    const ttl = Math.min(Math.max(1000, options.ttl ?? DEFAULT_TASK_TTL_MS), MAX_TASK_TTL_MS);
    const task: Task = { taskId: randomBytes(16).toString('hex'), status: 'working', ttl, createdAt: now, lastUpdatedAt: now, pollInterval: options.pollInterval ?? POLL_INTERVAL_MS };
    const stored: StoredTask = { owner, task };
    this.tasks.set(task.taskId, stored);
    this.expireAfter(stored);
    return { ...task };
  }

  get(owner: string, taskId: string): StoredTask | undefined {
    const stored = this.tasks.get(taskId);
    return stored?.owner === owner ? stored : undefined;
  }

  /** Registers what stops the work of a task when it is cancelled. */
  onCancel(owner: string, taskId: string, cancel: () => void): void {
    const stored = this.get(owner, taskId);
    if (stored) stored.cancel = cancel;
  }

  storeResult(owner: string, taskId: string, status: 'completed' | 'failed', result: Result): void {
    const stored = this.require(owner, taskId);
    if (stored.result) throw new Error(`Task ${taskId} already has its result`);
    stored.result = result;
    // A cancelled task keeps its status; the run's last state is still worth reading.
    if (stored.task.status !== 'cancelled') this.setStatus(stored, status);
  }

  updateStatus(owner: string, taskId: string, status: Task['status'], statusMessage?: string): void {
    const stored = this.require(owner, taskId);
    if (isTerminal(stored.task.status)) throw new Error(`Task ${taskId} is already ${stored.task.status}`);
    this.setStatus(stored, status, statusMessage);
    if (status === 'cancelled') {
      stored.cancel?.();
      stored.cancel = undefined;
    }
  }

  list(owner: string, cursor?: string): { tasks: Task[]; nextCursor?: string } {
    const PAGE = 50;
    const ids = [...this.tasks.values()].filter((stored) => stored.owner === owner).map((stored) => stored.task.taskId);
    const start = cursor ? ids.indexOf(cursor) + 1 : 0;
    if (cursor && start === 0) throw new Error(`Invalid cursor: ${cursor.slice(0, 64)}`);
    const page = ids.slice(start, start + PAGE);
    return { tasks: page.map((id) => ({ ...this.tasks.get(id)!.task })), ...(start + PAGE < ids.length ? { nextCursor: page[page.length - 1] } : {}) };
  }

  /** Stops every task's work (the daemon is stopping). */
  close(): void {
    for (const stored of this.tasks.values()) clearTimeout(stored.expiry);
    this.tasks.clear();
  }

  private require(owner: string, taskId: string): StoredTask {
    const stored = this.get(owner, taskId);
    if (!stored) throw new Error(`Task ${taskId} not found`);
    return stored;
  }

  private setStatus(stored: StoredTask, status: Task['status'], statusMessage?: string): void {
    stored.task.status = status;
    if (statusMessage) stored.task.statusMessage = statusMessage;
    stored.task.lastUpdatedAt = new Date().toISOString();
    // The TTL counts from the end, so a long run's result is not gone the moment it arrives.
    if (isTerminal(status)) this.expireAfter(stored);
  }

  private expireAfter(stored: StoredTask): void {
    clearTimeout(stored.expiry);
    // A working task outlives its TTL only while its work runs: it expires from its end.
    stored.expiry = setTimeout(() => {
      if (!isTerminal(stored.task.status)) return;
      this.tasks.delete(stored.task.taskId);
    }, stored.task.ttl ?? DEFAULT_TASK_TTL_MS);
    stored.expiry.unref();
  }
}

class OwnerTaskStore implements TaskStore {
  constructor(private readonly tasks: UserTasks, private readonly owner: string) {}

  async createTask(options: CreateTaskOptions, _requestId: RequestId, _request: Request): Promise<Task> {
    return this.tasks.create(this.owner, options);
  }

  async getTask(taskId: string): Promise<Task | null> {
    const stored = this.tasks.get(this.owner, taskId);
    return stored ? { ...stored.task } : null;
  }

  async storeTaskResult(taskId: string, status: 'completed' | 'failed', result: Result): Promise<void> {
    this.tasks.storeResult(this.owner, taskId, status, result);
  }

  async getTaskResult(taskId: string): Promise<Result> {
    const stored = this.tasks.get(this.owner, taskId);
    if (!stored) throw new Error(`Task ${taskId} not found`);
    if (stored.result) return stored.result;
    if (stored.task.status === 'cancelled') return { isError: true, content: [{ type: 'text', text: `Task ${taskId} was cancelled` }] };
    throw new Error(`Task ${taskId} has no result yet`);
  }

  async updateTaskStatus(taskId: string, status: Task['status'], statusMessage?: string): Promise<void> {
    this.tasks.updateStatus(this.owner, taskId, status, statusMessage);
  }

  async listTasks(cursor?: string): Promise<{ tasks: Task[]; nextCursor?: string }> {
    return this.tasks.list(this.owner, cursor);
  }
}

const perDaemon = new WeakMap<Core, UserTasks>();

/** The tasks of one daemon (every MCP session of it shares them). */
export function userTasksOf(core: Core): UserTasks {
  let tasks = perDaemon.get(core);
  if (!tasks) perDaemon.set(core, (tasks = new UserTasks()));
  return tasks;
}
