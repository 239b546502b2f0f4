import { randomBytes } from 'node:crypto';
import type { AppMeshClient } from '../client/appmesh-client.js';
import { AppMeshError } from '../client/errors.js';
import { ConfigError, remoteRootOf, type RemoteConfig } from './remote-config.js';
import { shellQuote } from './shell-quote.js';
import { readCache, readState, stateFile, stateFolder, writeCache, type SyncState } from './sync-state.js';

/** Everything a command needs: the logged-on client, where the project lives here and there. */
export interface Workspace {
  client: AppMeshClient;
  config: RemoteConfig;
  user: string;
  projectRoot: string;
  remoteHome: string;
  remoteRoot: string;
  stateFile: string;
  state: SyncState;
}

export async function openWorkspace(client: AppMeshClient, config: RemoteConfig, user: string, projectRoot: string, env: NodeJS.ProcessEnv): Promise<Workspace> {
  const folder = stateFolder(env);
  const remoteHome = await remoteHomeOf(client, config, user, folder);
  const remoteRoot = remoteRootOf(config, remoteHome);
  const file = stateFile(folder, { url: config.url, user, remoteRoot, localRoot: projectRoot });
  return { client, config, user, projectRoot, remoteHome, remoteRoot, stateFile: file, state: await readState(file, remoteRoot) };
}

/** The remote user's home, asked of the node once and remembered. */
async function remoteHomeOf(client: AppMeshClient, config: RemoteConfig, user: string, folder: string): Promise<string> {
  const key = `${config.url} ${user}`;
  const cache = await readCache(folder);
  if (cache[key]) return cache[key];
  const answer = await client.runs.runSync({ command: 'printf %s "$HOME"', shell: true }, { timeoutSeconds: 30 });
  const home = answer.output.trim();
  if (answer.exitCode !== 0 || !home.startsWith('/')) throw new ConfigError(`Cannot tell the home folder of ${user} on the node (${answer.output.slice(0, 200)}): set APPMESH_WORKSPACE to an absolute path`, 1);
  await writeCache(folder, { ...cache, [key]: home });
  return home;
}

/** A unique name for a transient file in the remote home. */
export const transientPath = (workspace: Workspace, kind: string, suffix = ''): string =>
  `${workspace.remoteHome.replace(/\/+$/, '')}/.appmesh-${kind}-${randomBytes(8).toString('hex')}${suffix}`;

/** Runs a short shell command on the node; a non-zero exit is an error with its output. */
export async function remoteShell(workspace: Workspace, script: string, what: string, timeoutSeconds = 600): Promise<string> {
  const answer = await workspace.client.runs.runSync({ command: script, shell: true }, { timeoutSeconds, lifecycleSeconds: timeoutSeconds });
  if (answer.exitCode !== 0) throw new Error(`${what} failed on the node (exit ${answer.exitCode}): ${answer.output.trim().slice(0, 2000)}`);
  return answer.output;
}

/** The text of a small remote file, or undefined when there is none; a refusal is thrown. */
export async function readRemoteText(workspace: Workspace, path: string): Promise<string | undefined> {
  try {
    const { stream } = await workspace.client.files.open(path);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    if (error instanceof AppMeshError && error.kind === 'not-found') return undefined;
    throw error;
  }
}

export { shellQuote };
