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

/**
 * The owner's `exec_user`, else `DefaultExecUser`, else the daemon's own account. The literal
 * `root` means "do not switch"; any other name resolving to uid 0 is refused, and a daemon that
 * is not root cannot switch at all (it says so instead of silently running as itself).
 */
export function resolveExecIdentity(ownerExecUser: string | undefined, settings: ExecUserSettings): ExecIdentity {
  const daemon = daemonOsUser();
  const wanted = settings.disableExecUser ? '' : (ownerExecUser?.trim() || settings.defaultExecUser.trim());
  if (!wanted || wanted === 'root' || wanted === daemon.name) return { user: daemon, switched: false };
  if (!runningAsRoot()) throw new ExecUserError(`cannot run as user ${wanted}: switching users needs the daemon to run as root`);
  const user = lookupOsUser(wanted);
  if (!user) throw new ExecUserError(`user ${wanted} does not exist`);
  if (user.uid === 0) throw new ExecUserError(`exec_user ${wanted} resolved to root (uid=0), which is not permitted`);
  return { user, switched: true };
}

/** The name reported as a user's `exec_user`: the account its processes actually run as. */
export function effectiveExecUserName(ownerExecUser: string | undefined, settings: ExecUserSettings): string {
  try {
    return resolveExecIdentity(ownerExecUser, settings).user.name;
  } catch {
    return ownerExecUser?.trim() || settings.defaultExecUser.trim();
  }
}
