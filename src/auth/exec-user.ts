import { daemonOsUser, lookupOsUser, runningAsRoot, type OsUser } from './os-user.js';

export interface ExecUserSettings {
  defaultExecUser: string;
  disableExecUser: boolean;
  /** Root daemon: the OS identity of the user's own (dynamic uid); undefined when it has none. */
  ownIdentity?: (owner: string) => OsUser | undefined;
}

/** The OS account a process runs as, and whether the daemon must switch to it. */
export interface ExecIdentity {
  user: OsUser;
  switched: boolean;
}

export class ExecUserError extends Error {}

/** The user that stands for the daemon's own account (all permissions, runs as the daemon). */
export const ADMIN_USER = 'admin';
/**
 * The OS account of an owner's processes:
 *  1. the owner's `exec_user`, set by admin (the literal `root`, or the daemon's own name, means
 *     "do not switch");
 *  2. `BaseConfig.DefaultExecUser`;
 *  3. for `admin` and for apps without an owner, the daemon's own account;
 *  4. on a root daemon, the owner's own dynamic identity (a uid nobody else has). App Mesh names
 *     never map to OS accounts by name, and a user is never root unless admin maps it there.
 * Any other name resolving to uid 0 is refused; a daemon that is not root cannot switch at all and
 * says so instead of silently running as itself (without `exec_user`, everything runs as it).
 */
export function resolveExecIdentity(owner: string | undefined, ownerExecUser: string | undefined, settings: ExecUserSettings): ExecIdentity {
  const daemon = daemonOsUser();
  if (settings.disableExecUser) return { user: daemon, switched: false };
  const wanted = ownerExecUser?.trim() || settings.defaultExecUser.trim();
  if (wanted) return switchTo(wanted, daemon);
  if (owner === undefined || owner === ADMIN_USER || !runningAsRoot()) return { user: daemon, switched: false };
  const own = settings.ownIdentity?.(owner);
  if (own && own.uid !== 0) return { user: own, switched: true };
  throw new ExecUserError(`user ${owner} has no OS identity to run as (no free uid in BaseConfig.DynamicUserIdMin..Max?): admin may set its exec_user`);
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
