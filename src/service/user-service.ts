import { EventEmitter } from 'node:events';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { ADMIN_USER, effectiveExecUserName, type ExecUserSettings } from '../auth/exec-user.js';
import { hashPassword, secretsEqual, verifyPassword } from '../auth/password.js';
import { ALL_PERMISSIONS } from '../auth/permissions.js';
import type { Principal } from '../auth/principal.js';
import { endTokensIssuedUntil, type SecurityStore, type StoredUser } from '../auth/security-store.js';
import { sandboxProfileSchema } from '../supervisor/app-definition.js';
import type { Authorizer } from './authorize.js';
import { badRequest, notFound } from './errors.js';

export const USER_NAME_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;
const ROLE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const userInputSchema = z.object({
  email: z.string().max(256).optional(),
  group: z.string().max(64).optional(),
  exec_user: z.string().max(64).regex(/^[A-Za-z0-9_.-]*$/, 'must be an OS user name').optional(),
  key: z.string().max(1024).optional(),
  locked: z.boolean().optional(),
  metadata: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
  roles: z.array(z.string().regex(ROLE_NAME_PATTERN, 'must be a role name')).max(64).optional(),
  /** The default sandbox of the user's apps and runs; `""` or null: none of its own. */
  sandbox: z.union([sandboxProfileSchema, z.literal(''), z.null()]).optional(),
});

const passwordChangeSchema = z.object({
  old_password: z.string().min(1, 'old_password is required'),
  new_password: z.string().min(1, 'new_password is required'),
});

export type UserView = Record<string, unknown>;

export interface UserServiceSettings {
  passwordComplexity: () => boolean;
  execUser: () => ExecUserSettings;
}

/** Users, roles and permissions: the management operations of the security model. */
export class UserService {
  /** 'revoked' (user name): the user's sign-ins end (locked, password changed, deleted); faces drop its live sessions. */
  readonly revocations = new EventEmitter<{ revoked: [name: string] }>();

  constructor(
    private readonly security: SecurityStore,
    private readonly authorizer: Authorizer,
    private readonly audit: AuditLog,
    private readonly settings: UserServiceSettings,
  ) {}

  list(principal: Principal): Record<string, UserView> {
    this.authorizer.authorize(principal, 'user-list');
    return Object.fromEntries(this.security.userNames().map((name) => [name, this.view(name, this.security.user(name)!)]));
  }

  self(principal: Principal): UserView {
    return { ...this.view(principal.name, this.security.user(principal.name)!), audience: [principal.audience] };
  }

  /** Adds a user, or updates one without touching its password, 2FA secret or token epoch. */
  async put(principal: Principal, name: string, body: unknown): Promise<string> {
    this.authorizer.authorize(principal, 'user-add');
    if (!USER_NAME_PATTERN.test(name) || name === 'self') throw badRequest(`Invalid user name ${name.slice(0, 64)}`);
    const input = parse(userInputSchema, body, 'user');
    const existing = this.security.user(name);
    this.requireAdminFor(principal, name, 'change');
    this.checkGrant(principal, (input.roles ?? []).filter((role) => !existing?.roles.includes(role)));
    const adminGroup = this.security.user(ADMIN_USER)?.group ?? '';
    // Joining admin's group would open admin's group-shared apps to the user.
    if (adminGroup && input.group === adminGroup && existing?.group !== adminGroup && principal.name !== ADMIN_USER) {
      throw badRequest(`Only ${ADMIN_USER} may put a user into group ${adminGroup}`);
    }
    let key: string | undefined;
    if (!existing) {
      if (!input.key) throw badRequest('no password provided');
      this.checkComplexity(input.key);
      key = this.security.encryptKey ? await hashPassword(input.key) : input.key;
    }
    if (name === 'admin' && input.locked) throw badRequest('User admin can not be locked');
    // A user object read from the API and sent back shows the effective account: that is no change.
    let execUser = input.exec_user ?? '';
    if (existing && execUser === effectiveExecUserName(name, existing.exec_user, this.settings.execUser())) execUser = existing.exec_user;
    // The OS account a user runs as is the one thing that reaches beyond App Mesh: only admin sets it.
    if (execUser !== (existing?.exec_user ?? '') && principal.name !== ADMIN_USER) {
      throw badRequest(`Only ${ADMIN_USER} may set exec_user`);
    }
    // Left out means unchanged: omitting it must not lift a floor admin set. Only admin changes it.
    const sandbox = input.sandbox === undefined ? existing?.sandbox : input.sandbox || undefined;
    if (sandbox !== existing?.sandbox && principal.name !== ADMIN_USER) throw badRequest(`Only ${ADMIN_USER} may set sandbox`);
    const nowMs = Date.now();
    await this.security.update((doc) => {
      const current = doc.Users[name];
      // A new user of an old name: the tokens of the earlier user of that name are not its own.
      const fresh = { key: key!, mfa_enabled: false, mfa_key: '' } as StoredUser;
      if (!current) endTokensIssuedUntil(fresh, nowMs);
      doc.Users[name] = {
        ...(current ?? fresh),
        email: input.email ?? '',
        group: input.group ?? '',
        exec_user: execUser,
        locked: input.locked ?? false,
        metadata: typeof input.metadata === 'object' ? JSON.stringify(input.metadata) : (input.metadata ?? ''),
        roles: input.roles ?? [],
        sandbox,
      } as StoredUser;
      // Locked through an update: the same end of its sessions as a lock.
      if (current && !current.locked && input.locked) endTokensIssuedUntil(doc.Users[name], nowMs);
    });
    this.audit.record({ event: existing ? 'user.update' : 'user.add', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    if (existing && !existing.locked && input.locked) this.revocations.emit('revoked', name);
    return 'User add success';
  }

  /** Logoff of all sessions: every token of the caller issued so far stops working, on every face. */
  async endSessions(principal: Principal): Promise<void> {
    this.requireUser(principal.name);
    await this.security.update((doc) => {
      endTokensIssuedUntil(doc.Users[principal.name]);
    });
    this.audit.record({ event: 'token.revoke', user: principal.name, client: principal.client, outcome: 'success', detail: 'all sessions' });
    this.revocations.emit('revoked', principal.name);
  }

  async remove(principal: Principal, name: string): Promise<string> {
    this.authorizer.authorize(principal, 'user-delete');
    this.requireUser(name);
    if (name === ADMIN_USER) throw badRequest('User admin can not be deleted');
    await this.security.update((doc) => {
      delete doc.Users[name];
    });
    this.audit.record({ event: 'user.delete', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    this.revocations.emit('revoked', name);
    return 'User delete success';
  }

  async setLocked(principal: Principal, name: string, locked: boolean): Promise<string> {
    this.authorizer.authorize(principal, locked ? 'user-lock' : 'user-unlock');
    this.requireUser(name);
    if (locked && name === ADMIN_USER) throw badRequest('User admin can not be locked');
    this.requireAdminFor(principal, name, locked ? 'lock' : 'unlock');
    await this.security.update((doc) => {
      doc.Users[name].locked = locked;
      // Unlocking must not bring back the sessions the lock ended.
      if (locked) endTokensIssuedUntil(doc.Users[name]);
    });
    this.audit.record({ event: locked ? 'user.lock' : 'user.unlock', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    if (locked) this.revocations.emit('revoked', name);
    return locked ? 'Lock user success' : 'Unlock user success';
  }

  /** Both passwords arrive base64-encoded; the target's old password must verify. */
  async changePassword(principal: Principal, target: string, body: unknown): Promise<string> {
    const name = target === 'self' ? principal.name : target;
    this.authorizer.authorize(principal, name === principal.name ? 'passwd-change-self' : 'passwd-change-user');
    this.requireAdminFor(principal, name, 'change the password of');
    const user = this.requireUser(name);
    const input = parse(passwordChangeSchema, body, 'password change');
    const oldPassword = decodeBase64(input.old_password, 'old_password');
    const newPassword = decodeBase64(input.new_password, 'new_password');
    const ok = this.security.encryptKey ? await verifyPassword(oldPassword, user.key) : secretsEqual(oldPassword, user.key);
    if (!ok) {
      this.audit.record({ event: 'user.passwd', user: principal.name, target: name, client: principal.client, outcome: 'failure' });
      throw badRequest(`old password for user ${name} is incorrect`);
    }
    this.checkComplexity(newPassword);
    const key = this.security.encryptKey ? await hashPassword(newPassword) : newPassword;
    await this.security.update((doc) => {
      const stored = doc.Users[name];
      stored.key = key;
      endTokensIssuedUntil(stored);
    });
    this.audit.record({ event: 'user.passwd', user: principal.name, target: name, client: principal.client, outcome: 'success' });
    this.revocations.emit('revoked', name);
    return 'password changed success';
  }

  roles(principal: Principal): Record<string, string[]> {
    this.authorizer.authorize(principal, 'role-view');
    return Object.fromEntries(Object.entries(this.security.roles()).map(([name, permissions]) => [name, [...permissions]]));
  }

  /** Creates or replaces a role; an empty list deletes it. Takes effect for every holder at once. */
  async setRole(principal: Principal, role: string, body: unknown): Promise<string> {
    this.authorizer.authorize(principal, 'role-set');
    if (!ROLE_NAME_PATTERN.test(role)) throw badRequest(`Invalid role name ${role.slice(0, 64)}`);
    const permissions = parse(z.array(z.string()).max(256), body, 'role');
    const unknown = permissions.filter((permission) => !ALL_PERMISSIONS.includes(permission));
    if (unknown.length) throw badRequest(`Unknown permission ${unknown[0].slice(0, 64)}`);
    // What a role already grants may stay; what it adds must be the editor's to give.
    const current = Object.hasOwn(this.security.roles(), role) ? this.security.roles()[role] : [];
    this.checkPermissionsHeld(principal, permissions.filter((permission) => !current.includes(permission)));
    await this.security.update((doc) => {
      if (permissions.length === 0) delete doc.Roles[role];
      else doc.Roles[role] = [...new Set(permissions)];
    });
    this.audit.record({ event: 'role.set', user: principal.name, target: role, client: principal.client, outcome: 'success', detail: permissions.join(',') });
    return 'Role update success';
  }

  async removeRole(principal: Principal, role: string): Promise<string> {
    this.authorizer.authorize(principal, 'role-delete');
    await this.security.update((doc) => {
      delete doc.Roles[role];
    });
    this.audit.record({ event: 'role.delete', user: principal.name, target: role, client: principal.client, outcome: 'success' });
    return 'Role delete success';
  }

  userPermissions(principal: Principal): string[] {
    return [...this.security.permissionsOf(principal.name)].sort();
  }

  /** The permissions referenced by existing roles. */
  permissions(principal: Principal): string[] {
    this.authorizer.authorize(principal, 'permission-list');
    return [...new Set(Object.values(this.security.roles()).flat())].sort();
  }

  groups(_principal: Principal): string[] {
    return [...new Set(this.security.userNames().map((name) => this.security.user(name)!.group).filter(Boolean))].sort();
  }

  private view(name: string, user: StoredUser): UserView {
    const view: UserView = {
      name,
      email: user.email,
      group: user.group,
      exec_user: effectiveExecUserName(name, user.exec_user, this.settings.execUser()),
      locked: user.locked,
      mfa_enabled: user.mfa_enabled,
      roles: user.roles,
    };
    if (user.sandbox) view.sandbox = user.sandbox;
    if (user.token_epoch) view.token_epoch = user.token_epoch;
    if (user.metadata) view.metadata = user.metadata;
    return view;
  }

  /** `admin` is changed by `admin` only: no other account can lock it out or take it over. */
  private requireAdminFor(principal: Principal, target: string, action: string): void {
    if (target === ADMIN_USER && principal.name !== ADMIN_USER) throw badRequest(`Only ${ADMIN_USER} may ${action} user ${ADMIN_USER}`);
  }

  /**
   * Roles given to a user must not grant more than the giver holds. An undefined role is refused
   * too: it would grant whatever it is defined with later.
   */
  private checkGrant(principal: Principal, roles: readonly string[]): void {
    if (principal.name === ADMIN_USER) return;
    const defined = this.security.roles();
    const undefinedRole = roles.find((role) => !Object.hasOwn(defined, role));
    if (undefinedRole) throw badRequest(`Role ${undefinedRole} does not exist`);
    this.checkPermissionsHeld(principal, roles.flatMap((role) => defined[role]));
  }

  private checkPermissionsHeld(principal: Principal, permissions: readonly string[]): void {
    if (principal.name === ADMIN_USER) return;
    const held = this.security.permissionsOf(principal.name);
    const missing = permissions.find((permission) => !held.has(permission));
    if (missing) throw badRequest(`Permission denied: user '${principal.name}' cannot grant permission '${missing}' it does not hold`);
  }

  private requireUser(name: string): StoredUser {
    const user = this.security.user(name);
    if (!user) throw notFound('user not found');
    return user;
  }

  private checkComplexity(password: string): void {
    if (!this.settings.passwordComplexity()) return;
    const problems = [
      password.length < 8 && 'at least 8 characters',
      !/[A-Z]/.test(password) && 'an upper-case letter',
      !/[a-z]/.test(password) && 'a lower-case letter',
      !/\d/.test(password) && 'a digit',
      !/[^A-Za-z0-9]/.test(password) && 'a special character',
    ].filter(Boolean);
    if (problems.length) throw badRequest(`Password needs ${problems.join(', ')}`);
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw badRequest(`Invalid ${what}${issue.path.length ? ` field '${issue.path.join('.')}'` : ''}: ${issue.message}`);
  }
  return result.data;
}

function decodeBase64(value: string, field: string): string {
  if (!/^[A-Za-z0-9+/=_-]*$/.test(value)) throw badRequest(`${field} must be base64`);
  return Buffer.from(value, 'base64').toString('utf8');
}
