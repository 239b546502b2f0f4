import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Looks a user up in the password database (/etc/passwd); undefined when unknown. */
export function lookupOsUser(name: string): OsUser | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of passwd.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 7 && fields[0] === name) {
      return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5] };
    }
  }
  return undefined;
}

let daemonUser: OsUser | undefined;

/**
 * The account the daemon itself runs as. Looked up once per uid (each process start asks, and a
 * lookup goes through the password database), again only should the daemon's uid change.
 */
export function daemonOsUser(): OsUser {
  const uid = process.getuid?.();
  if (daemonUser && daemonUser.uid === uid) return { ...daemonUser };
  const info = userInfo();
  daemonUser = { name: info.username, uid: info.uid, gid: info.gid, home: info.homedir };
  return { ...daemonUser };
}

export const runningAsRoot = (): boolean => process.getuid?.() === 0;
