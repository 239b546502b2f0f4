import { spawn } from 'node:child_process';
import { chownSync, chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { OsUser } from './os-user.js';
import type { SecurityDocument } from './security-store.js';

export interface UidRange {
  min: number;
  max: number;
}

export class IdentityExhaustedError extends Error {}

/**
 * Gives every App Mesh user an OS identity of its own on a root daemon, like systemd's
 * DynamicUser: a uid (gid = uid) from a configured range, recorded with the user, never handed to
 * a second user (the counter only grows), never an existing account, never root or `nobody`.
 * App Mesh names never map to OS accounts by name: `postgres` here is not the OS's postgres.
 */
export class OsIdentities {
  constructor(
    /** Folder of the users' homes (root-owned, 0711): `<root>/<user>`, 0700, owned by the user's uid. */
    readonly homesRoot: string,
    private readonly range: () => UidRange,
    private readonly log: (message: string) => void,
  ) {
    mkdirSync(homesRoot, { recursive: true, mode: 0o711 });
    // Others must reach their own home below it, and nothing else.
    chmodSync(homesRoot, 0o711);
  }

  /**
   * The change step of the security store: every user without an identity gets one in the same
   * atomic write that creates it. Admin keeps the daemon's own account and needs none.
   */
  assignMissing(doc: SecurityDocument): void {
    const { min, max } = this.range();
    const taken = new Set([...Object.values(doc.Users).map((user) => user.os_uid), ...systemIds()]);
    let next = Math.max(doc.NextOsUid ?? min, min);
    for (const [name, user] of Object.entries(doc.Users)) {
      if (user.os_uid !== undefined || name === 'admin') continue;
      while (next <= max && taken.has(next)) next++;
      if (next > max) {
        this.log(`no free uid left in BaseConfig.DynamicUserIdMin..Max (${min}-${max}) for user ${name}`);
        break;
      }
      user.os_uid = next;
      taken.add(next++);
    }
    doc.NextOsUid = next;
  }

  /** The identity of a user with an allocated uid; its home (named by the uid: names may clash once cleaned) is made on first use. */
  identity(name: string, uid: number): OsUser {
    const home = join(this.homesRoot, String(uid));
    this.ensureHome(home, uid);
    return { name, uid, gid: uid, home };
  }

  /** Homes whose uid no current user holds (deleted users), and anything else found there, are removed. */
  async removeStaleHomes(uidsInUse: () => Set<number>): Promise<void> {
    let entries: string[];
    try {
      entries = readdirSync(this.homesRoot);
    } catch {
      return;
    }
    const inUse = uidsInUse();
    for (const entry of entries) {
      const path = join(this.homesRoot, entry);
      const info = lstatSync(path, { throwIfNoEntry: false });
      if (!info) continue;
      if (info.isDirectory() && String(info.uid) === entry && inUse.has(info.uid)) continue;
      await this.removeAs(path, info.uid);
    }
  }

  private ensureHome(home: string, uid: number): void {
    const info = lstatSync(home, { throwIfNoEntry: false });
    if (info?.isDirectory() && !info.isSymbolicLink() && info.uid === uid && info.gid === uid) return;
    if (info) {
      // Not what it should be (a link, another owner): moved aside at once (the parent is root's), removed as its owner.
      const aside = join(this.homesRoot, `.retired-${uid}-${Date.now()}`);
      renameSync(home, aside);
      void this.removeAs(aside, info.uid);
    }
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, uid);
    chmodSync(home, 0o700);
  }

  /**
   * Removes a tree with the credentials of its owner, so a link planted inside it can never make
   * root delete what the owner could not; then the daemon removes the emptied folder itself.
   */
  private async removeAs(path: string, uid: number): Promise<void> {
    if (uid !== 0 && existsSync('/usr/bin/setpriv')) {
      await new Promise<void>((resolve) => {
        const child = spawn('/usr/bin/setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', 'rm', '-rf', '--one-file-system', '--', path], { stdio: 'ignore' });
        child.once('error', () => resolve());
        child.once('exit', () => resolve());
      });
    }
    try {
      rmdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.log(`could not remove ${path}: ${(error as NodeJS.ErrnoException).code}`);
    }
  }
}

/** Uids and gids the system already uses: a dynamic identity must never coincide with one. */
function systemIds(): number[] {
  const ids: number[] = [];
  for (const file of ['/etc/passwd', '/etc/group']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      const id = Number(line.split(':')[2]);
      if (Number.isInteger(id)) ids.push(id);
    }
  }
  return ids;
}
