import { lstatSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export class UnsafeFolderError extends Error {}

const STICKY = 0o1000;
const WRITABLE_BY_OTHERS = 0o022;

/**
 * Refuses a folder where another account could swap what the daemon writes (keys, definitions,
 * output files) for a link of its choosing: the folder must be the daemon's (or root's) and not
 * writable by group or others, and so must every folder above it, except sticky ones owned by
 * root or the daemon (like /tmp), where others cannot rename or remove what is not theirs.
 */
export function assertPrivateFolder(path: string, what: string, daemonUid = process.getuid?.() ?? 0): void {
  const folder = resolve(path);
  const trusted = (uid: number) => uid === 0 || uid === daemonUid;
  const info = lstatSync(folder, { throwIfNoEntry: false });
  if (!info) return;
  if (info.isSymbolicLink()) throw new UnsafeFolderError(`${what} ${folder} is a symbolic link: refusing to start (give its real path)`);
  if (!info.isDirectory()) throw new UnsafeFolderError(`${what} ${folder} is not a directory`);
  if (!trusted(info.uid)) throw new UnsafeFolderError(`${what} ${folder} belongs to uid ${info.uid}, not to the daemon: refusing to start`);
  if (info.mode & WRITABLE_BY_OTHERS) throw new UnsafeFolderError(`${what} ${folder} is writable by other accounts (mode ${(info.mode & 0o7777).toString(8)}): refusing to start; chmod go-w it`);
  for (let parent = dirname(folder); ; parent = dirname(parent)) {
    // stat (not lstat): a link above (/var/run -> /run) is judged by where it leads.
    const above = statSync(parent, { throwIfNoEntry: false });
    if (above) {
      const open = (above.mode & WRITABLE_BY_OTHERS) !== 0 && !((above.mode & STICKY) !== 0 && trusted(above.uid));
      if (!trusted(above.uid) || open) {
        throw new UnsafeFolderError(`${what} ${folder} lies in ${parent}, which another account controls (owner uid ${above.uid}, mode ${(above.mode & 0o7777).toString(8)}): refusing to start`);
      }
    }
    if (parent === '/') return;
  }
}
