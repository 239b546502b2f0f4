import { chown, readdir, rm, stat } from 'node:fs/promises';
import { dir } from 'tmp-promise';
import type { AuditLog } from '../audit/audit-log.js';
import type { ExecIdentity } from '../auth/exec-user.js';
import type { Principal } from '../auth/principal.js';
import { badRequest, notFound } from './errors.js';

export interface Workspace {
  name: string;
  path: string;
  owner: string;
  created_at: number;
  last_used_at: number;
}

export interface WorkspaceSettings {
  /** Workspaces unused for this long are removed. */
  idleSeconds: () => number;
  execIdentity: (owner: string) => ExecIdentity;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_PER_USER = 32;

/**
 * Per-user scratch folders for agents: created on demand (the default working directory of
 * agent runs), listed, removed on request or after an idle time. A workspace belongs to one
 * user and is owned by that user's OS account.
 */
export class WorkspaceService {
  private readonly workspaces = new Map<string, Workspace>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly settings: WorkspaceSettings, private readonly audit: AuditLog) {
    this.sweeper = setInterval(() => void this.removeIdle(), 60_000);
    this.sweeper.unref();
  }

  list(principal: Principal): Workspace[] {
    return [...this.workspaces.values()].filter((workspace) => workspace.owner === principal.name);
  }

  /** The caller's workspace of that name, created when missing. */
  async open(principal: Principal, name = 'default'): Promise<Workspace> {
    if (!NAME.test(name)) throw badRequest(`Invalid workspace name ${name.slice(0, 64)}`);
    const key = `${principal.name}/${name}`;
    const existing = this.workspaces.get(key);
    if (existing && (await stat(existing.path).then(() => true, () => false))) {
      existing.last_used_at = Math.floor(Date.now() / 1000);
      return existing;
    }
    if (this.list(principal).length >= MAX_PER_USER) throw badRequest(`At most ${MAX_PER_USER} workspaces per user`);
    const created = await dir({ prefix: `appmesh-ws-${principal.name.replace(/[^A-Za-z0-9_-]/g, '_')}-${name}-`, mode: 0o700 });
    const identity = this.settings.execIdentity(principal.name);
    if (identity.switched) await chown(created.path, identity.user.uid, identity.user.gid);
    const now = Math.floor(Date.now() / 1000);
    const workspace: Workspace = { name, path: created.path, owner: principal.name, created_at: now, last_used_at: now };
    this.workspaces.set(key, workspace);
    this.audit.record({ event: 'workspace.create', user: principal.name, target: created.path, client: principal.client, outcome: 'success' });
    return workspace;
  }

  async remove(principal: Principal, name: string): Promise<void> {
    const key = `${principal.name}/${name}`;
    const workspace = this.workspaces.get(key);
    if (!workspace) throw notFound(`No workspace ${name.slice(0, 64)}`);
    this.workspaces.delete(key);
    await rm(workspace.path, { recursive: true, force: true });
    this.audit.record({ event: 'workspace.remove', user: principal.name, target: workspace.path, client: principal.client, outcome: 'success' });
  }

  /** Files of a workspace, one level (for a quick look). */
  async entries(workspace: Workspace): Promise<string[]> {
    return (await readdir(workspace.path).catch(() => [])).sort();
  }

  /** The registry lives in memory: folders it forgets would be orphans, so they go with it. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.workspaces.values()].map((workspace) => rm(workspace.path, { recursive: true, force: true }).catch(() => undefined)));
    this.workspaces.clear();
  }

  /** Removes the workspaces unused for longer than the idle time (every minute). */
  async removeIdle(): Promise<void> {
    const cutoff = Math.floor(Date.now() / 1000) - this.settings.idleSeconds();
    for (const [key, workspace] of this.workspaces) {
      if (workspace.last_used_at >= cutoff) continue;
      this.workspaces.delete(key);
      await rm(workspace.path, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}
