import { lstatSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { AuditLog } from '../audit/audit-log.js';
import type { ExecIdentity } from '../auth/exec-user.js';
import type { Principal } from '../auth/principal.js';
import { askHelper, HelperError, type RunAs } from '../files/io-helper-client.js';
import { badRequest, forbidden, notFound, ServiceError } from './errors.js';

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
  /** `Limits.MaxWorkspacesPerUser`. */
  maxPerUser: () => number;
}

interface Held {
  workspace: Workspace;
  /** The identity that created the folder: it alone removes it, whatever the user maps to later. */
  runAs: RunAs | undefined;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
// Removals at once when the daemon closes: each is a helper process.
const CLOSE_CONCURRENCY = 4;

/**
 * Per-user scratch folders for agents: created on demand (the default working directory of
 * agent runs), listed, removed on request or after an idle time. A workspace belongs to one user;
 * its folder is made and removed by the I/O helper holding that user's OS identity, so neither
 * step can reach anything the user could not.
 */
export class WorkspaceService {
  private readonly workspaces = new Map<string, Held>();
  private readonly opening = new Map<string, Promise<Workspace>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly settings: WorkspaceSettings, private readonly audit: AuditLog) {
    this.sweeper = setInterval(() => void this.removeIdle(), 60_000);
    this.sweeper.unref();
  }

  list(principal: Principal): Workspace[] {
    return [...this.workspaces.values()].map((held) => held.workspace).filter((workspace) => workspace.owner === principal.name);
  }

  /** The caller's workspace of that name, created when missing. */
  async open(principal: Principal, name = 'default'): Promise<Workspace> {
    if (!NAME.test(name)) throw badRequest(`Invalid workspace name ${name.slice(0, 64)}`);
    const key = `${principal.name}/${name}`;
    const existing = this.workspaces.get(key)?.workspace;
    if (existing && isFolder(existing.path)) {
      existing.last_used_at = Math.floor(Date.now() / 1000);
      return existing;
    }
    // Two calls for the same name at once get the same folder.
    const pending = this.opening.get(key);
    if (pending) return pending;
    const creation = this.create(principal, name, key).finally(() => this.opening.delete(key));
    this.opening.set(key, creation);
    return creation;
  }

  private async create(principal: Principal, name: string, key: string): Promise<Workspace> {
    const others = this.list(principal).filter((workspace) => workspace.name !== name).length;
    const limit = this.settings.maxPerUser();
    if (others >= limit) throw new ServiceError(429, `At most ${limit} workspaces per user (Limits.MaxWorkspacesPerUser)`);
    const identity = this.identityOf(principal);
    const runAs = identity.switched ? { uid: identity.user.uid, gid: identity.user.gid } : undefined;
    const prefix = `${identity.switched ? '' : `${principal.name.replace(/[^A-Za-z0-9_-]/g, '_')}-`}${name}-`;
    let path: string | undefined;
    try {
      // A switched identity keeps its workspaces in its own home; anyone else gets a private temporary folder.
      const header = await askHelper({ op: 'make-workspace', home: identity.user.home, ownFolder: identity.switched, tmp: tmpdir(), prefix }, runAs);
      path = header.path;
    } catch (error) {
      throw error instanceof HelperError ? new ServiceError(500, `Cannot create workspace ${name}: ${error.message}`) : error;
    }
    const info = path ? await lstat(path).catch(() => undefined) : undefined;
    if (!path || !info?.isDirectory() || info.uid !== identity.user.uid) throw new ServiceError(500, `Cannot create workspace ${name}: the folder is not the user's`);
    const now = Math.floor(Date.now() / 1000);
    const workspace: Workspace = { name, path, owner: principal.name, created_at: now, last_used_at: now };
    const replaced = this.workspaces.get(key);
    this.workspaces.set(key, { workspace, runAs });
    if (replaced) await removeFolder(replaced).catch(() => undefined);
    this.audit.record({ event: 'workspace.create', user: principal.name, target: path, client: principal.client, outcome: 'success' });
    return workspace;
  }

  async remove(principal: Principal, name: string): Promise<void> {
    const key = `${principal.name}/${name}`;
    const held = this.workspaces.get(key);
    if (!held) throw notFound(`No workspace ${name.slice(0, 64)}`);
    this.workspaces.delete(key);
    const base = { event: 'workspace.remove', user: principal.name, target: held.workspace.path, client: principal.client };
    try {
      const left = await removeFolder(held);
      this.audit.record({ ...base, outcome: left === 0 ? 'success' : 'failure', ...(left === 0 ? {} : { detail: `${left} entries could not be removed` }) });
    } catch (error) {
      this.audit.record({ ...base, outcome: 'failure', detail: (error as Error).message });
      throw new ServiceError(500, `Cannot remove workspace ${name}: ${(error as Error).message}`);
    }
  }

  /** The registry lives in memory: folders it forgets would be orphans, so they go with it. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    const all = [...this.workspaces.values()];
    this.workspaces.clear();
    for (let i = 0; i < all.length; i += CLOSE_CONCURRENCY) {
      await Promise.all(all.slice(i, i + CLOSE_CONCURRENCY).map((held) => removeFolder(held).catch(() => undefined)));
    }
  }

  /** Removes the workspaces unused for longer than the idle time (every minute). */
  async removeIdle(): Promise<void> {
    const cutoff = Math.floor(Date.now() / 1000) - this.settings.idleSeconds();
    for (const [key, held] of this.workspaces) {
      if (held.workspace.last_used_at >= cutoff) continue;
      this.workspaces.delete(key);
      await removeFolder(held).catch(() => undefined);
    }
  }

  private identityOf(principal: Principal): ExecIdentity {
    try {
      return this.settings.execIdentity(principal.name);
    } catch (error) {
      throw forbidden((error as Error).message);
    }
  }
}

/** Removal as the folder's creator, never following a link nor leaving its file system; the count of entries left. */
async function removeFolder(held: Held): Promise<number> {
  const header = await askHelper({ op: 'remove', path: held.workspace.path }, held.runAs);
  return header.left ?? 0;
}

/**
 * Looked at at once, not through the thread pool: a run started in the workspace looks at the
 * same folder on the event loop anyway, and a round trip would cost more than the look.
 */
const isFolder = (path: string): boolean => lstatSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
