/** The permission vocabulary of App Mesh and its default roles. */
export const DEFAULT_ROLES: Readonly<Record<string, readonly string[]>> = {
  manage: ['app-control', 'app-delete', 'app-reg', 'app-subscribe', 'config-set', 'file-download', 'file-upload', 'label-delete', 'label-set'],
  shell: ['app-run-async', 'app-run-sync', 'app-run-task'],
  usermgr: ['user-add', 'passwd-change-user', 'user-delete', 'user-lock', 'role-delete', 'role-set', 'user-totp-disable', 'user-unlock'],
  view: [
    'config-view', 'label-view', 'role-view', 'user-list', 'permission-list', 'passwd-change-self', 'app-view-all',
    'app-view', 'app-output-view', 'user-totp-active', 'user-token-renew', 'host-resource-view',
  ],
};

export const ALL_PERMISSIONS: readonly string[] = [...new Set([...Object.values(DEFAULT_ROLES).flat(), 'app-run-async-output', 'request-forward'])].sort();

export type Permission = (typeof ALL_PERMISSIONS)[number];
