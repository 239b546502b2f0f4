import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What the node holds of one file, as of the last successful sync. */
export interface SyncedFile {
  size: number;
  mtimeMs: number;
  /** SHA-256 of the content, hex. */
  hash: string;
  mode: number;
}

/** The local record of one workspace: what was sent, and what was deployed from it. */
export interface SyncState {
  /** Also written in the remote workspace: a different one there means the record is not to be trusted. */
  syncId: string;
  remoteRoot: string;
  files: Record<string, SyncedFile>;
  /** Services deployed from this workspace, removed by a bare `cleanup`. */
  apps: string[];
  syncedAt?: number;
}

/** `$XDG_CACHE_HOME/appmesh-remote` (else `~/.cache/appmesh-remote`): records that can be rebuilt, never secrets. */
export function stateFolder(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'appmesh-remote');
}

/** One record per node, user, remote workspace and local project. */
export function stateFile(folder: string, key: { url: string; user: string; remoteRoot: string; localRoot: string }): string {
  const digest = createHash('sha256').update(JSON.stringify([key.url, key.user, key.remoteRoot, key.localRoot])).digest('hex').slice(0, 32);
  return join(folder, `${digest}.json`);
}

export const emptyState = (remoteRoot: string): SyncState => ({ syncId: '', remoteRoot, files: {}, apps: [] });

export async function readState(file: string, remoteRoot: string): Promise<SyncState> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<SyncState>;
    if (typeof parsed.syncId !== 'string' || typeof parsed.files !== 'object' || parsed.files === null) return emptyState(remoteRoot);
    return { syncId: parsed.syncId, remoteRoot, files: parsed.files, apps: Array.isArray(parsed.apps) ? parsed.apps.filter((app) => typeof app === 'string') : [], syncedAt: parsed.syncedAt };
  } catch {
    return emptyState(remoteRoot);
  }
}

/** Written whole or not at all: a torn record would make the next sync skip files. */
export const writeState = (file: string, state: SyncState): Promise<void> => writeJson(file, state);

async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(value), { mode: 0o600 });
  await rename(temp, file);
}

export async function removeState(file: string): Promise<void> {
  await rm(file, { force: true });
}

/** A small key-value cache beside the records (the remote home of each node and user). */
export async function readCache(folder: string): Promise<Record<string, string>> {
  try {
    const parsed = JSON.parse(await readFile(join(folder, 'homes.json'), 'utf8')) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export async function writeCache(folder: string, cache: Record<string, string>): Promise<void> {
  await writeJson(join(folder, 'homes.json'), cache);
}
