import { daemonOsUser, lookupOsUser, runningAsRoot, type OsUser } from './os-user.js';

export interface ExecUserSettings {
  defaultExecUser: string;
  disableExecUser: boolean;
}

/** The OS account a process runs as, and whether the daemon must switch to it. */
export interface ExecIdentity {
  user: OsUser;
  switched: boolean;
}

export class ExecUserError extends Error {}

/** The user that stands for the daemon's own account (all permissions, runs as the daemon). */
export const ADMIN_USER = 'admin';
/** Where a user without an OS account of its own runs when the daemon is root. */
const UNPRIVILEGED_FALLBACK = 'nobody';

/**
 * The OS account of an owner's processes:
 *  1. the owner's `exec_user` (the literal `root`, or the daemon's own name, means "do not switch");
 *  2. `BaseConfig.DefaultExecUser`;
 *  3. for `admin` and for apps without an owner, the daemon's own account;
 *  4. on a root daemon, an OS account with the owner's name, else `nobody` — a user is never
 *     root unless it maps to root (its `exec_user` says `root`, or it is `admin`).
 * Any other name resolving to uid 0 is refused; a daemon that is not root cannot switch at all and
 * says so instead of silently running as itself.
 */
export function resolveExecIdentity(owner: string | undefined, ownerExecUser: string | undefined, settings: ExecUserSettings): ExecIdentity {
  const daemon = daemonOsUser();
  if (settings.disableExecUser) return { user: daemon, switched: false };
  const wanted = ownerExecUser?.trim() || settings.defaultExecUser.trim();
  if (wanted) return switchTo(wanted, daemon);
  if (owner === undefined || owner === ADMIN_USER || !runningAsRoot()) return { user: daemon, switched: false };
  const own = lookupOsUser(owner);
  if (own && own.uid !== 0) return { user: own, switched: true };
  const fallback = lookupOsUser(UNPRIVILEGED_FALLBACK);
  if (fallback && fallback.uid !== 0) return { user: fallback, switched: true };
  throw new ExecUserError(`user ${owner} has no OS account to run as: set its exec_user or BaseConfig.DefaultExecUser`);
}

function switchTo(name: string, daemon: OsUser): ExecIdentity {
  if (name === 'root' || name === daemon.name) return { user: daemon, switched: false };
  if (!runningAsRoot()) throw new ExecUserError(`cannot run as user ${name}: switching users needs the daemon to run as root`);
  const user = lookupOsUser(name);
  if (!user) throw new ExecUserError(`user ${name} does not exist`);
  if (user.uid === 0) throw new ExecUserError(`exec_user ${name} resolved to root (uid=0), which is not permitted`);
  return { user, switched: true };
}

/** The name reported as a user's `exec_user`: the account its processes actually run as. */
export function effectiveExecUserName(owner: string, ownerExecUser: string | undefined, settings: ExecUserSettings): string {
  try {
    return resolveExecIdentity(owner, ownerExecUser, settings).user.name;
  } catch {
    return ownerExecUser?.trim() || settings.defaultExecUser.trim();
  }
}
