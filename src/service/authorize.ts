import type { AuditLog } from '../audit/audit-log.js';
import { ADMIN_USER } from '../auth/exec-user.js';
import type { Principal } from '../auth/principal.js';
import type { SecurityStore } from '../auth/security-store.js';
import type { AppDefinition } from '../supervisor/app-definition.js';
import { badRequest } from './errors.js';

export type AccessMode = 'read' | 'write';

/** Private: only the owner and admin (the default of BaseConfig.DefaultAppPermission). */
export const PRIVATE_APP_PERMISSION = 11;

export interface AuthorizerSettings {
  /** ACL of apps and runs whose own `permission` is unset or 0 (BaseConfig.DefaultAppPermission). */
  defaultAppPermission: () => number;
  /** Where refusals are recorded (`authz.denied`; the log aggregates floods of them). */
  audit?: Pick<AuditLog, 'record'>;
}

/**
 * The one place that decides whether a caller may perform an operation: the RBAC permission,
 * then (for app operations) the owner/group ACL of the app. Every face goes through it.
 */
export class Authorizer {
  constructor(
    private readonly security: SecurityStore,
    private readonly settings: AuthorizerSettings,
  ) {}

  authorize(principal: Principal, permission: string | undefined, app?: AppDefinition, mode: AccessMode = 'read'): void {
    if (permission !== undefined && !this.security.permissionsOf(principal.name).has(permission)) {
      this.recordDenial(principal, permission, `lacks permission ${permission}`);
      throw badRequest(`Permission denied: user '${principal.name}' lacks required permission '${permission}'`);
    }
    if (app && !this.canAccess(principal, app, mode)) {
      this.recordDenial(principal, app.name, `${permission ?? 'access'}: ${mode} access to the app denied`);
      throw badRequest(`User ${principal.name} is not allowed to ${mode === 'read' ? 'VIEW' : 'EDIT'} app ${app.name}`);
    }
  }

  private recordDenial(principal: Principal, target: string, detail: string): void {
    this.settings.audit?.record({ event: 'authz.denied', user: principal.name, client: principal.client, target, outcome: 'failure', detail });
  }

  hasPermission(principal: Principal, permission: string): boolean {
    return this.security.permissionsOf(principal.name).has(permission);
  }

  /**
   * Two-digit ACL: units = owner's group, tens = other groups; 1 deny, 2 read, 3 read+write.
   * Unset or 0 means the configured default (private unless an administrator opened it). An app
   * without an owner has no owner's group: everyone but admin is "other groups".
   */
  canAccess(principal: Principal, app: AppDefinition, mode: AccessMode): boolean {
    if (!principal.name) return false;
    if (principal.name === ADMIN_USER || (app.owner && app.owner === principal.name)) return true;
    const permission = app.permission || this.settings.defaultAppPermission() || PRIVATE_APP_PERMISSION;
    // The groups as they are now, not as they were when the caller's token was issued.
    const callerGroup = this.security.user(principal.name)?.group ?? '';
    const ownerGroup = app.owner ? (this.security.user(app.owner)?.group ?? '') : '';
    const sameGroup = ownerGroup !== '' && ownerGroup === callerGroup;
    const digit = sameGroup ? permission % 10 : Math.floor(permission / 10) % 10;
    return mode === 'read' ? digit >= 2 : digit === 3;
  }
}
