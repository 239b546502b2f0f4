import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppMeshError } from '../client/errors.js';
import { extraExcludeRules, SYNC_DELETIONS, SYNC_MARKER } from './never-synced.js';
import { listProject } from './project-walk.js';
import { readRemoteText, remoteShell, shellQuote, transientPath, type Workspace } from './remote-workspace.js';
import { writeState, type SyncedFile } from './sync-state.js';
import { TarGzWriter } from './tar-writer.js';

export interface SyncReport {
  remoteRoot: string;
  /** Files sent, relative to the project root. */
  sent: string[];
  deleted: string[];
  unchanged: number;
  /** Left out because they hold secrets. */
  secrets: string[];
  links: number;
  /** Everything was compared afresh: no record, `--force`, or the node's marker did not match. */
  full: boolean;
  /** Size of the archive sent. */
  bytes: number;
  /** Why the sync could not be incremental, when the node is the cause. */
  warning?: string;
}

/**
 * Sends what changed since the last sync: one archive of the changed files, unpacked by `tar` on
 * the node, and the deletions. A file whose size and modification time match the record is not
 * read; one that was touched but kept its content is not sent.
 */
export async function syncWorkspace(workspace: Workspace, options: { force?: boolean } = {}): Promise<SyncReport> {
  const syncId = randomBytes(12).toString('hex');
  // Made on the first changed file: a sync with nothing to send writes nothing.
  const archiveFile = join(tmpdir(), `appmesh-sync-${syncId}.tar.gz`);
  const archive = { writer: undefined as TarGzWriter | undefined, open: () => (archive.writer ??= new TarGzWriter(archiveFile)) };
  try {
    return await compareAndSend(workspace, options, syncId, archive.open, archiveFile);
  } finally {
    if (archive.writer) await rm(archiveFile, { force: true });
  }
}

async function compareAndSend(workspace: Workspace, options: { force?: boolean }, syncId: string, archive: () => TarGzWriter, archiveFile: string): Promise<SyncReport> {
  const { state, projectRoot, remoteRoot } = workspace;
  const listing = await listProject(projectRoot, extraExcludeRules(workspace.config.syncExclude));
  // The node's marker says whether the record describes what it holds (one small download).
  let warning: string | undefined;
  let marker: string | undefined;
  if (!options.force && state.syncId !== '') {
    try {
      marker = (await readRemoteText(workspace, `${remoteRoot}/${SYNC_MARKER}`))?.trim();
    } catch (error) {
      if (!(error instanceof AppMeshError) || error.kind !== 'forbidden') throw error;
      warning = `the node refuses to read files in ${remoteRoot} (${error.message}), so every sync sends everything: choose a workspace outside the folders its file API refuses`;
    }
  }
  const trusted = marker !== undefined && marker === state.syncId;
  const previous: Record<string, SyncedFile> = trusted ? state.files : {};
  const report: SyncReport = { remoteRoot, sent: [], deleted: [], unchanged: 0, secrets: listing.secrets, links: listing.links, full: !trusted, bytes: 0, warning };

  const files: Record<string, SyncedFile> = {};
  for (const file of listing.files) {
    const known = previous[file.path];
    if (known && known.size === file.size && known.mtimeMs === file.mtimeMs && known.mode === file.mode) {
      files[file.path] = known;
      report.unchanged++;
      continue;
    }
    const data = await readFile(join(projectRoot, file.path));
    const hash = createHash('sha256').update(data).digest('hex');
    files[file.path] = { size: data.length, mtimeMs: file.mtimeMs, hash, mode: file.mode };
    if (known && known.hash === hash && known.mode === file.mode) {
      report.unchanged++;
      continue;
    }
    await archive().add({ path: file.path, data, mode: file.mode, mtimeMs: file.mtimeMs });
    report.sent.push(file.path);
  }
  report.deleted = Object.keys(previous).filter((path) => !(path in files));

  if (trusted && report.sent.length === 0 && report.deleted.length === 0) {
    // Touched but unchanged files: remember their new times so they are not read again.
    if (Object.keys(files).some((path) => files[path].mtimeMs !== previous[path]?.mtimeMs)) await writeState(workspace.stateFile, { ...state, files });
    return report;
  }

  const now = Date.now();
  await archive().add({ path: SYNC_MARKER, data: Buffer.from(`${syncId}\n`), mode: 0o644, mtimeMs: now });
  if (report.deleted.length > 0) await archive().add({ path: SYNC_DELETIONS, data: Buffer.from(report.deleted.map((path) => `${path}\0`).join('')), mode: 0o600, mtimeMs: now });
  report.bytes = await archive().finish();

  const remoteArchive = transientPath(workspace, 'sync', '.tar.gz');
  await workspace.client.files.uploadFile(archiveFile, remoteArchive, { mode: 0o600 });
  // -m: unpacked files are newer than what was built from their old content; -o: owned by the user.
  await remoteShell(
    workspace,
    [
      `T=${shellQuote(remoteArchive)}`,
      `trap 'rm -f "$T"' EXIT`,
      `mkdir -p ${shellQuote(remoteRoot)} && cd ${shellQuote(remoteRoot)} && tar -xzmof "$T" || exit 1`,
      `if [ -f ${SYNC_DELETIONS} ]; then xargs -0 rm -f -- < ${SYNC_DELETIONS}; rm -f ${SYNC_DELETIONS}; fi`,
    ].join('\n'),
    'Unpacking the sync',
  );
  workspace.state = { ...state, syncId, files, syncedAt: Math.floor(now / 1000) };
  await writeState(workspace.stateFile, workspace.state);
  return report;
}
