import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isIgnored, parseIgnoreFile, type IgnoreRule, type IgnoreScope } from './ignore-rules.js';
import { matchesAny, secretRules, skippedRules, SYNC_DELETIONS, SYNC_MARKER } from './never-synced.js';

export interface ProjectFile {
  /** Relative to the project root, with `/`. */
  path: string;
  size: number;
  mtimeMs: number;
  /** Permission bits (the executable bit matters to builds). */
  mode: number;
}

export interface ProjectListing {
  files: ProjectFile[];
  /** Paths left out because they hold secrets. */
  secrets: string[];
  /** Symbolic links, which are not followed. */
  links: number;
}

/**
 * The files of the project that a sync sends: ignore files honoured, secrets and links left out.
 * Synchronous on purpose: thousands of stat calls cost several times more through the thread pool.
 */
export async function listProject(root: string, extraExcludes: readonly IgnoreRule[] = []): Promise<ProjectListing> {
  const listing: ProjectListing = { files: [], secrets: [], links: 0 };
  const rootScope: IgnoreScope = { base: '', rules: [...extraExcludes] };
  walk(root, '', [rootScope], listing);
  listing.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return listing;
}

function walk(root: string, folder: string, scopes: IgnoreScope[], listing: ProjectListing): void {
  const absolute = folder ? join(root, folder) : root;
  const entries = readdirSync(absolute, { withFileTypes: true });
  const own = entries.some((entry) => entry.name === '.gitignore' && entry.isFile()) ? parseIgnoreFile(readIgnoreFile(join(absolute, '.gitignore'))) : [];
  // The root's extra excludes come first, so the project's own rules can refine them.
  const here = own.length === 0 ? scopes : folder ? [...scopes, { base: folder, rules: own }] : [{ base: '', rules: [...scopes[0].rules, ...own] }];
  const subfolders: string[] = [];
  for (const entry of entries) {
    const path = folder ? `${folder}/${entry.name}` : entry.name;
    if (entry.isSymbolicLink()) {
      listing.links++;
      continue;
    }
    const isDirectory = entry.isDirectory();
    if (!isDirectory && !entry.isFile()) continue;
    if (matchesAny(skippedRules, path, isDirectory)) continue;
    if (matchesAny(secretRules, path, isDirectory)) {
      listing.secrets.push(path);
      continue;
    }
    if (!folder && (entry.name === SYNC_MARKER || entry.name === SYNC_DELETIONS)) continue;
    if (isIgnored(here, path, isDirectory)) continue;
    if (isDirectory) {
      subfolders.push(path);
      continue;
    }
    // Gone since it was listed: not part of this sync.
    const info = statSync(join(root, path), { throwIfNoEntry: false });
    if (info) listing.files.push({ path, size: info.size, mtimeMs: info.mtimeMs, mode: info.mode & 0o777 });
  }
  for (const subfolder of subfolders) walk(root, subfolder, here, listing);
}

function readIgnoreFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
