import { readdir, readFile, stat } from 'node:fs/promises';
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

/** The files of the project that a sync sends: ignore files honoured, secrets and links left out. */
export async function listProject(root: string, extraExcludes: readonly IgnoreRule[] = []): Promise<ProjectListing> {
  const listing: ProjectListing = { files: [], secrets: [], links: 0 };
  const rootScope: IgnoreScope = { base: '', rules: [...extraExcludes] };
  await walk(root, '', [rootScope], listing);
  listing.files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return listing;
}

async function walk(root: string, folder: string, scopes: IgnoreScope[], listing: ProjectListing): Promise<void> {
  const absolute = folder ? join(root, folder) : root;
  const entries = await readdir(absolute, { withFileTypes: true });
  const own = entries.some((entry) => entry.name === '.gitignore' && entry.isFile())
    ? parseIgnoreFile(await readFile(join(absolute, '.gitignore'), 'utf8').catch(() => ''))
    : [];
  // The root's extra excludes come first, so the project's own rules can refine them.
  const here = own.length === 0 ? scopes : folder ? [...scopes, { base: folder, rules: own }] : [{ base: '', rules: [...scopes[0].rules, ...own] }];
  const subfolders: string[] = [];
  await Promise.all(
    entries.map(async (entry) => {
      const path = folder ? `${folder}/${entry.name}` : entry.name;
      if (entry.isSymbolicLink()) {
        listing.links++;
        return;
      }
      const isDirectory = entry.isDirectory();
      if (!isDirectory && !entry.isFile()) return;
      if (matchesAny(skippedRules, path, isDirectory)) return;
      if (matchesAny(secretRules, path, isDirectory)) {
        listing.secrets.push(path);
        return;
      }
      if (!folder && (entry.name === SYNC_MARKER || entry.name === SYNC_DELETIONS)) return;
      if (isIgnored(here, path, isDirectory)) return;
      if (isDirectory) {
        subfolders.push(path);
        return;
      }
      const info = await stat(join(root, path));
      listing.files.push({ path, size: info.size, mtimeMs: info.mtimeMs, mode: info.mode & 0o777 });
    }),
  );
  for (const subfolder of subfolders) await walk(root, subfolder, here, listing);
}
