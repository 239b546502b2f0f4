import type { Session } from './session.js';
import type { UserInput, UserView } from './types.js';

const user = (name: string) => `/appmesh/user/${encodeURIComponent(name)}`;
const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');

/** Users, roles and permissions. */
export class UsersApi {
  constructor(private readonly session: Session) {}

  list(): Promise<Record<string, UserView>> {
    return this.session.json('GET', '/appmesh/users');
  }

  self(): Promise<UserView> {
    return this.session.json('GET', '/appmesh/user/self');
  }

  /** Adds or updates a user (a new user needs `key`, its password). */
  put(name: string, input: UserInput): Promise<string> {
    return this.session.message('PUT', user(name), { body: input });
  }

  remove(name: string): Promise<string> {
    return this.session.message('DELETE', user(name));
  }

  lock(name: string): Promise<string> {
    return this.session.message('POST', `${user(name)}/lock`);
  }

  unlock(name: string): Promise<string> {
    return this.session.message('POST', `${user(name)}/unlock`);
  }

  /** Changes a password (`self` or another user's, with `passwd-change-user`). */
  changePassword(name: string, oldPassword: string, newPassword: string): Promise<string> {
    return this.session.message('POST', `${user(name)}/passwd`, { body: { old_password: base64(oldPassword), new_password: base64(newPassword) } });
  }

  /** The caller's permissions. */
  permissions(): Promise<string[]> {
    return this.session.json('GET', '/appmesh/user/permissions');
  }

  /** Every permission some role grants. */
  allPermissions(): Promise<string[]> {
    return this.session.json('GET', '/appmesh/permissions');
  }

  groups(): Promise<string[]> {
    return this.session.json('GET', '/appmesh/user/groups');
  }

  roles(): Promise<Record<string, string[]>> {
    return this.session.json('GET', '/appmesh/roles');
  }

  setRole(role: string, permissions: string[]): Promise<string> {
    return this.session.message('POST', `/appmesh/role/${encodeURIComponent(role)}`, { body: permissions });
  }

  removeRole(role: string): Promise<string> {
    return this.session.message('DELETE', `/appmesh/role/${encodeURIComponent(role)}`);
  }
}
