import { basename } from 'node:path';
import { z } from 'zod';
import { ADDITIVE, DESTRUCTIVE, EXECUTES, IDEMPOTENT_WRITE, READ_ONLY, defineTool, type ToolDef } from './tool-kit.js';
import { ServiceError } from '../src/service/errors.js';

/**
 * The 38 tools of App Mesh's MCP server: same names and argument names, each one operation of
 * the service layer performed as the calling user.
 */

const appName = { app_name: z.string().describe('Application name') };
const anyObject = z.record(z.string(), z.unknown());
const success = { success: z.boolean() };
const daemonUrl = () => process.env.APPMESH_DAEMON_PUBLIC_URL || process.env.APPMESH_URL || 'http://127.0.0.1:6060';

export const COMPAT_TOOLS: ToolDef[] = [
  defineTool({
    name: 'list_apps', title: 'List applications', description: 'All applications the caller may read, with status, pid, health and resource usage.',
    permissions: ['app-view-all'], input: {}, output: { apps: z.array(anyObject) }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ apps: await core.apps.list(principal) }),
  }),
  defineTool({
    name: 'get_app', title: 'Get an application', description: 'One application: definition and runtime state.',
    permissions: ['app-view'], input: appName, output: { name: z.string() }, annotations: READ_ONLY,
    run: async ({ core, principal }, args) => core.apps.get(principal, args.app_name),
  }),
  defineTool({
    name: 'add_app', title: 'Register an application', description: 'Registers or replaces a supervised application (App Mesh app JSON; `name` required).',
    permissions: ['app-reg'], input: { app: anyObject.describe('Application definition, e.g. {"name":"web","command":"python3 -m http.server","behavior":{"exit":"restart"}}') },
    output: { name: z.string() }, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => {
      const name = typeof args.app.name === 'string' ? args.app.name : '';
      if (!name) throw new ServiceError(400, 'app.name is required');
      return core.apps.register(principal, name, args.app);
    },
  }),
  defineTool({
    name: 'delete_app', title: 'Delete an application', description: 'Stops the whole process tree and removes the application.',
    // Owners delete their own apps and runs; app-delete is for the apps of others.
    permissions: [], anyPermission: ['app-delete', 'app-reg', 'app-run-async', 'app-run-sync'], input: appName, output: success, annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => {
      try {
        await core.apps.remove(principal, args.app_name);
        return { success: true };
      } catch (error) {
        if (error instanceof ServiceError && error.status === 404) return { success: false };
        throw error;
      }
    },
  }),
  defineTool({
    name: 'enable_app', title: 'Enable an application', description: 'Enables the application; it starts according to its schedule.',
    permissions: ['app-control'], input: appName, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => (await core.apps.setEnabled(principal, args.app_name, true), { success: true }),
  }),
  defineTool({
    name: 'disable_app', title: 'Disable an application', description: 'Disables the application and stops its whole process tree.',
    permissions: ['app-control'], input: appName, output: success, annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => (await core.apps.setEnabled(principal, args.app_name, false), { success: true }),
  }),
  defineTool({
    name: 'check_app_health', title: 'Check health', description: 'Whether the application is healthy (running, or its health check passes).',
    permissions: [], input: appName, output: { healthy: z.boolean() }, annotations: READ_ONLY,
    run: async ({ core }, args) => ({ healthy: core.apps.health(args.app_name) === 0 }),
  }),
  defineTool({
    name: 'get_app_output', title: 'Read output', description: 'Output of an application from a byte position (stdout and stderr merged).',
    permissions: ['app-output-view'],
    input: {
      ...appName,
      stdout_position: z.number().int().min(0).default(0),
      stdout_index: z.number().int().min(0).default(0),
      stdout_maxsize: z.number().int().min(1).default(10240),
      process_uuid: z.string().default(''),
      timeout: z.number().int().min(0).max(300).default(0),
    },
    output: { status_code: z.number(), output: z.string(), output_position: z.number().nullable(), exit_code: z.number().nullable() },
    annotations: READ_ONLY,
    run: async ({ core, principal }, args) => {
      const result = await core.apps.output(principal, args.app_name, {
        stdout_position: String(args.stdout_position), stdout_index: String(args.stdout_index), stdout_maxsize: String(args.stdout_maxsize),
        process_uuid: args.process_uuid, timeout: String(args.timeout),
      });
      return { status_code: 200, output: result.data.toString('utf8'), output_position: result.position ?? null, exit_code: result.exitCode ?? null };
    },
  }),
  defineTool({
    name: 'run_app_sync', title: 'Run and wait', description: 'Runs a command (through bash) or an app definition and returns its exit code and output. For long commands prefer `run_command` with a deadline.',
    permissions: ['app-run-sync'],
    input: { command: z.string().optional(), app: anyObject.optional(), max_time: z.number().int().min(0).default(0).describe('Seconds; 0 = the default (2 days)') },
    output: { exit_code: z.number(), output: z.string() }, annotations: EXECUTES, task: { args: {} },
    run: async ({ core, principal, extra }, args) => {
      const body = runBody(args.command, args.app);
      const result = await core.apps.runSync(principal, body, { timeout: args.max_time ? String(args.max_time) : undefined, lifecycle: '216000' }, extra.signal);
      return { exit_code: result.exitCode, output: result.data.toString('utf8') };
    },
  }),
  defineTool({
    name: 'run_app_async', title: 'Start a run', description: 'Starts a command (through bash) or an app definition and returns at once with its name and run id.',
    permissions: ['app-run-async'], input: { command: z.string().optional(), app: anyObject.optional() },
    output: { app_name: z.string(), process_uuid: z.string() }, annotations: EXECUTES,
    run: async ({ core, principal }, args) => {
      const started = await core.apps.runAsync(principal, runBody(args.command, args.app), { timeout: '172800', lifecycle: '216000' });
      return { app_name: started.name, process_uuid: started.process_uuid };
    },
  }),
  defineTool({
    name: 'run_task', title: 'Send a task', description: 'Sends data to a running worker application and returns its reply.',
    permissions: ['app-run-task'], input: { ...appName, data: z.string(), timeout: z.number().int().min(0).default(300) },
    output: { result: z.string() }, annotations: EXECUTES,
    run: async ({ core, principal, extra }, args) => ({
      result: (await core.tasks.send(principal, args.app_name, Buffer.from(args.data), String(args.timeout), extra.signal)).toString('utf8'),
    }),
  }),
  defineTool({
    name: 'cancel_task', title: 'Cancel a task', description: 'Cancels the task a worker is processing.',
    permissions: ['app-run-task'], input: appName, output: success, annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => ({ success: core.tasks.cancel(principal, args.app_name) }),
  }),
  defineTool({
    name: 'get_host_resources', title: 'Host resources', description: 'CPU, memory, load, disks and network of the host.',
    permissions: ['host-resource-view'], input: {}, output: { schema_version: z.number() }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ ...(await core.observability.resources(principal)) }),
  }),
  defineTool({
    name: 'get_metrics', title: 'Prometheus metrics', description: 'The daemon\'s Prometheus metrics text.',
    permissions: [], input: {}, output: { metrics: z.string() }, annotations: READ_ONLY,
    run: async ({ core }) => ({ metrics: (await core.observability.metricsText()).text }),
  }),
  defineTool({
    name: 'file_download_command', title: 'Download command', description: 'A curl command line that downloads a file from the daemon (file bytes never pass through MCP).',
    permissions: ['file-download'], input: { remote_file: z.string(), local_file: z.string().default('') },
    output: { command: z.string(), remote_file: z.string(), local_file: z.string(), note: z.string() }, annotations: READ_ONLY,
    run: async (_context, args) => {
      const local = args.local_file || basename(args.remote_file);
      return {
        command: `curl -sf -H "Authorization: Bearer $APPMESH_TOKEN" -H ${shellQuote(`X-File-Path: ${encodeURIComponent(args.remote_file)}`)} -o ${shellQuote(local)} ${daemonUrl()}/appmesh/file/download`,
        remote_file: args.remote_file, local_file: local, note: 'Set APPMESH_TOKEN to an App Mesh token first.',
      };
    },
  }),
  defineTool({
    name: 'file_upload_command', title: 'Upload command', description: 'A curl command line that uploads a file to the daemon (file bytes never pass through MCP).',
    permissions: ['file-upload'], input: { local_file: z.string(), remote_file: z.string() },
    output: { command: z.string(), remote_file: z.string(), local_file: z.string(), note: z.string() }, annotations: READ_ONLY,
    run: async (_context, args) => ({
      command: `curl -sf -X POST -H "Authorization: Bearer $APPMESH_TOKEN" -H ${shellQuote(`X-File-Path: ${encodeURIComponent(args.remote_file)}`)} -F ${shellQuote(`file=@${args.local_file}`)} ${daemonUrl()}/appmesh/file/upload`,
      remote_file: args.remote_file, local_file: args.local_file, note: 'Set APPMESH_TOKEN to an App Mesh token first.',
    }),
  }),
  defineTool({
    name: 'get_config', title: 'Get configuration', description: 'The daemon configuration (secrets masked).',
    permissions: ['config-view'], input: {}, output: { BaseConfig: anyObject }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ ...core.settings.view(principal) }),
  }),
  defineTool({
    name: 'set_config', title: 'Update configuration', description: 'Merges a partial configuration (JSON merge patch) and returns the result.',
    permissions: ['config-set'], input: { config: anyObject }, output: { BaseConfig: anyObject }, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => ({ ...(await core.settings.update(principal, args.config)) }),
  }),
  defineTool({
    name: 'set_log_level', title: 'Set log level', description: 'Sets the daemon log level (DEBUG, INFO, NOTICE, WARN, ERROR).',
    permissions: ['config-set'], input: { level: z.string().default('DEBUG') }, output: { level: z.string() }, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => ({ level: (await core.settings.update(principal, { BaseConfig: { LogLevel: args.level } })).BaseConfig.LogLevel }),
  }),
  defineTool({
    name: 'list_labels', title: 'List labels', description: 'Labels of this host.',
    permissions: ['label-view'], input: {}, output: { labels: z.record(z.string(), z.string()) }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ labels: core.settings.labels(principal) }),
  }),
  defineTool({
    name: 'add_label', title: 'Add a label', description: 'Sets a host label.',
    permissions: ['label-set'], input: { label_name: z.string(), label_value: z.string() }, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => (await core.settings.setLabel(principal, args.label_name, args.label_value), { success: true }),
  }),
  defineTool({
    name: 'delete_label', title: 'Delete a label', description: 'Removes a host label.',
    permissions: ['label-delete'], input: { label_name: z.string() }, output: success, annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => (await core.settings.deleteLabel(principal, args.label_name), { success: true }),
  }),
  defineTool({
    name: 'get_current_user', title: 'Current user', description: 'The calling user.',
    permissions: [], input: {}, output: { name: z.string() }, annotations: READ_ONLY,
    run: async ({ core, principal }) => core.users.self(principal),
  }),
  defineTool({
    name: 'list_users', title: 'List users', description: 'All users.',
    permissions: ['user-list'], input: {}, output: { users: z.record(z.string(), anyObject) }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ users: core.users.list(principal) }),
  }),
  defineTool({
    name: 'add_user', title: 'Add or update a user', description: 'Adds a user (user_data.key = password) or updates one.',
    permissions: ['user-add'], input: { username: z.string(), user_data: anyObject }, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => (await core.users.put(principal, args.username, args.user_data), { success: true }),
  }),
  defineTool({
    name: 'delete_user', title: 'Delete a user', description: 'Deletes a user.',
    permissions: ['user-delete'], input: { username: z.string() }, output: success, annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => (await core.users.remove(principal, args.username), { success: true }),
  }),
  defineTool({
    name: 'lock_user', title: 'Lock a user', description: 'Locks a user: its tokens stop working.',
    permissions: ['user-lock'], input: { username: z.string() }, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => (await core.users.setLocked(principal, args.username, true), { success: true }),
  }),
  defineTool({
    name: 'unlock_user', title: 'Unlock a user', description: 'Unlocks a user.',
    permissions: ['user-unlock'], input: { username: z.string() }, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => (await core.users.setLocked(principal, args.username, false), { success: true }),
  }),
  defineTool({
    name: 'list_groups', title: 'List groups', description: 'User groups.',
    permissions: [], input: {}, output: { groups: z.array(z.string()) }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ groups: core.users.groups(principal) }),
  }),
  defineTool({
    name: 'list_permissions', title: 'List permissions', description: 'Permissions used by the roles.',
    permissions: ['permission-list'], input: {}, output: { permissions: z.array(z.string()) }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ permissions: core.users.permissions(principal) }),
  }),
  defineTool({
    name: 'get_user_permissions', title: 'My permissions', description: 'Permissions of the calling user.',
    permissions: [], input: {}, output: { permissions: z.array(z.string()) }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ permissions: core.users.userPermissions(principal) }),
  }),
  defineTool({
    name: 'list_roles', title: 'List roles', description: 'Roles and their permissions.',
    permissions: ['role-view'], input: {}, output: { roles: z.record(z.string(), z.array(z.string())) }, annotations: READ_ONLY,
    run: async ({ core, principal }) => ({ roles: core.users.roles(principal) }),
  }),
  defineTool({
    name: 'update_role', title: 'Set a role', description: 'Creates or replaces a role (an empty list deletes it).',
    permissions: ['role-set'], input: { role_name: z.string(), permission_set: z.array(z.string()) }, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => (await core.users.setRole(principal, args.role_name, args.permission_set), { success: true }),
  }),
  defineTool({
    name: 'delete_role', title: 'Delete a role', description: 'Deletes a role.',
    permissions: ['role-delete'], input: { role_name: z.string() }, output: success, annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => (await core.users.removeRole(principal, args.role_name), { success: true }),
  }),
  defineTool({
    name: 'update_password', title: 'Change a password', description: 'Changes a password (the old one is required); earlier tokens of that user stop working.',
    permissions: [], anyPermission: ['passwd-change-self', 'passwd-change-user'], input: { old_password: z.string(), new_password: z.string(), username: z.string().default('self') }, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => {
      const body = { old_password: Buffer.from(args.old_password).toString('base64'), new_password: Buffer.from(args.new_password).toString('base64') };
      await core.users.changePassword(principal, args.username, body);
      return { success: true };
    },
  }),
  defineTool({
    name: 'get_totp_secret', title: 'New TOTP secret', description: 'Creates a new 2FA secret for the caller (confirm it with enable_totp).',
    permissions: ['user-totp-active'], input: {}, output: { secret: z.string() }, annotations: ADDITIVE,
    run: async ({ core, principal }) => {
      const uri = Buffer.from((await core.auth.totpSecret(principal)).mfa_uri, 'base64').toString('utf8');
      return { secret: new URL(uri).searchParams.get('secret') ?? '' };
    },
  }),
  defineTool({
    name: 'enable_totp', title: 'Enable 2FA', description: 'Turns 2FA on with a code of the secret from get_totp_secret.',
    permissions: ['user-totp-active'], input: { totp_code: z.string() }, output: success, annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => (await core.auth.totpEnable(principal, args.totp_code), { success: true }),
  }),
  defineTool({
    name: 'disable_totp', title: 'Disable 2FA', description: 'Turns 2FA off for the caller (`self`) or, for admin, another user.',
    permissions: ['user-totp-disable'], input: { user: z.string().default('self') }, output: success, annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => (await core.auth.totpDisable(principal, args.user), { success: true }),
  }),
];

/** A bare command runs through bash, as the original MCP server did. */
function runBody(command: string | undefined, app: Record<string, unknown> | undefined): Record<string, unknown> {
  if (app) return app;
  if (command) return { command, shell: true };
  throw new ServiceError(400, 'Either command or app is required');
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
