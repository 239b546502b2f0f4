import type { Principal } from '../auth/principal.js';
import type { SecurityStore } from '../auth/security-store.js';
import type { AppDefinition } from '../supervisor/app-definition.js';
import { badRequest } from './errors.js';

export type AccessMode = 'read' | 'write';

/**
 * The one place that decides whether a caller may perform an operation: the RBAC permission,
 * then (for app operations) the owner/group ACL of the app. Every face goes through it.
 */
export class Authorizer {
  constructor(private readonly security: SecurityStore) {}

  authorize(principal: Principal, permission: string | undefined, app?: AppDefinition, mode: AccessMode = 'read'): void {
    if (permission !== undefined && !this.security.permissionsOf(principal.name).has(permission)) {
      throw badRequest(`Permission denied: user '${principal.name}' lacks required permission '${permission}'`);
    }
    if (app && !this.canAccess(principal, app, mode)) {
      throw badRequest(`User ${principal.name} is not allowed to ${mode === 'read' ? 'VIEW' : 'EDIT'} app ${app.name}`);
    }
  }

  hasPermission(principal: Principal, permission: string): boolean {
    return this.security.permissionsOf(principal.name).has(permission);
  }

  /** Two-digit ACL: units = owner's group, tens = other groups; 2 read, 3 read+write. */
  canAccess(principal: Principal, app: AppDefinition, mode: AccessMode): boolean {
    const owner = app.owner;
    const permission = app.permission ?? 0;
    if (!principal.name || !owner || owner === principal.name || permission === 0 || principal.name === 'admin') return true;
    const ownerGroup = this.security.user(owner)?.group ?? '';
    const sameGroup = ownerGroup !== '' && ownerGroup === principal.group;
    const digit = sameGroup ? permission % 10 : Math.floor(permission / 10) % 10;
    return mode === 'read' ? digit >= 2 : digit === 3;
  }
}
