import { stat } from 'node:fs/promises';
import { posix } from 'node:path';
import type { OsUser } from '../auth/os-user.js';

export const READ = 4;
export const WRITE = 2;
export const SEARCH = 1;

interface Owned {
  mode: number;
  uid: number;
  gid: number;
}

/**
 * Whether an OS account may use a file the way the kernel would decide it from the permission
 * bits: owner, then group, then others. Supplementary groups and ACLs are not consulted, so the
 * answer errs on the side of refusing.
 */
export function mayAccess(info: Owned, user: Pick<OsUser, 'uid' | 'gid'>, bits: number): boolean {
  if (user.uid === 0) return true;
  const shift = info.uid === user.uid ? 6 : info.gid === user.gid ? 3 : 0;
  return ((info.mode >> shift) & bits) === bits;
}

/** Every folder above `path` must be searchable by the account, as for a real open(). */
export async function mayReach(path: string, user: Pick<OsUser, 'uid' | 'gid'>): Promise<boolean> {
  if (user.uid === 0) return true;
  for (let dir = posix.dirname(path); ; dir = posix.dirname(dir)) {
    const info = await stat(dir).catch(() => undefined);
    if (!info || !mayAccess(info, user, SEARCH)) return false;
    if (dir === '/') return true;
  }
}
