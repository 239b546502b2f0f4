import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where the build put appmesh-launch, seen from this module: beside the bundle's chunks
 * (dist/bundle), from the compiled sources (dist/src/containment) or from the TypeScript sources
 * (src/containment, tests and development).
 */
const CANDIDATES = ['../native/appmesh-launch', '../../native/appmesh-launch', '../../dist/native/appmesh-launch'];

/**
 * The launcher program, when it was built and is safe to start as root: a regular executable
 * file that only its owner (root, or the daemon's account) may change. Undefined otherwise: runs
 * then start through /bin/sh and setpriv.
 */
export function findNativeLauncher(candidates: readonly string[] = CANDIDATES.map((relative) => fileURLToPath(new URL(relative, import.meta.url)))): string | undefined {
  for (const path of candidates) {
    if (isTrustedExecutable(path)) return path;
  }
  return undefined;
}

/** Why `path` is not used as the launcher; undefined when it is fine. */
export function untrustedReason(path: string): string | undefined {
  let stats;
  try {
    stats = statSync(path);
  } catch {
    return 'not found';
  }
  if (!stats.isFile()) return 'not a regular file';
  if ((stats.mode & 0o111) === 0) return 'not executable';
  const owner = process.getuid?.() ?? 0;
  if (stats.uid !== 0 && stats.uid !== owner) return 'owned by another account';
  if ((stats.mode & 0o022) !== 0) return 'writable by its group or others';
  // Whoever may write a folder on the way may put another file, or another folder, in its place;
  // a sticky folder (as /tmp) lets others add entries, never rename or remove one of ours.
  for (let folder = dirname(realpathSync(path)); ; folder = dirname(folder)) {
    const stats = statSync(folder);
    if (stats.uid !== 0 && stats.uid !== owner) return `in a folder owned by another account: ${folder}`;
    if ((stats.mode & 0o022) !== 0 && (stats.mode & 0o1000) === 0) return `in a folder writable by its group or others: ${folder}`;
    if (folder === dirname(folder)) break;
  }
  return undefined;
}

function isTrustedExecutable(path: string): boolean {
  return untrustedReason(path) === undefined;
}
