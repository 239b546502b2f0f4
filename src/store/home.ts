import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InstanceLock } from './instance-lock.js';
import { assertPrivateFolder } from './private-folder.js';

/** The daemon's home: `$APPMESH_HOME`, else `~/.appmesh`. */
export function defaultHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.APPMESH_HOME?.trim() || join(homedir(), '.appmesh'));
}

/**
 * Takes a home for one daemon: refuses one others could tamper with, makes its config folder and
 * holds the one-daemon-per-home lock (until released, or the end of the process).
 */
export async function lockHome(home: string, warn: (message: string) => void): Promise<InstanceLock> {
  assertPrivateFolder(home, 'The home folder');
  mkdirSync(join(home, 'config'), { recursive: true, mode: 0o700 });
  return InstanceLock.acquire(home, warn);
}
