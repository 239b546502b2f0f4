/**
 * The shapes the daemon speaks, taken from its own schemas and types (type-only imports: nothing
 * of the daemon is loaded at run time).
 */
import type { z } from 'zod';
import type { appInputSchema, AppDefinition, ExitAction } from '../supervisor/app-definition.js';
import type { ConfigDocument } from '../config/config-schema.js';
import type { TokenResponse } from '../service/auth-service.js';
import type { HostResources } from '../observability/host-resources.js';
import type { StoredUser } from '../auth/security-store.js';

export type { AppDefinition, ConfigDocument, ExitAction, HostResources, TokenResponse };

/** What `PUT /appmesh/app/{name}` accepts (the daemon validates it with the same schema). */
export type AppInput = z.input<typeof appInputSchema>;

/** The runtime view of an app (`GET /appmesh/app/{name}`, `GET /appmesh/applications`). */
export type AppView = Partial<Omit<AppDefinition, 'sec_env' | 'retention' | 'start_interval_seconds'>> & {
  name: string;
  status: number;
  retention?: string;
  start_interval_seconds?: string;
  register_time_TEXT?: string;
  start_time_TEXT?: string;
  end_time_TEXT?: string;
  pid?: number;
  pid_user?: string;
  process_uuid?: string;
  return_code?: number;
  last_exit_time?: number;
  last_start_time?: number;
  next_start_time?: number;
  starts?: number;
  health?: number;
  memory?: number;
  cpu?: number;
  fd?: number;
  pstree?: string;
  stdout_cache_size?: number;
  last_error?: string;
  [field: string]: unknown;
};

/** A user as `GET /appmesh/users` and `/appmesh/user/self` show it (secrets masked or absent). */
export type UserView = Partial<Omit<StoredUser, 'key' | 'mfa_key' | 'mfa_pending_key'>> & { [field: string]: unknown };

/** What `PUT /appmesh/user/{name}` accepts. `key` is the password (required for a new user). */
export interface UserInput {
  key?: string;
  group?: string;
  email?: string;
  exec_user?: string;
  locked?: boolean;
  metadata?: string | Record<string, unknown>;
  roles?: string[];
  sandbox?: 'none' | 'isolated' | '' | null;
}

/** One read of a run's or an app's output. */
export interface OutputChunk {
  /** The bytes read, as text. */
  text: string;
  /** Where the next read starts (pass it back as `position`). */
  position: number;
  /** Set once the process has ended. */
  exitCode?: number;
}

export interface OutputOptions {
  position?: number;
  /** Which rotated output file (0: the current one). */
  index?: number;
  maxBytes?: number;
  processUuid?: string;
  /** Long-poll: wait up to this many seconds for new output. */
  timeoutSeconds?: number;
  signal?: AbortSignal;
}

/** A command to run: an app definition, of which `command` is the essential part. */
export type RunInput = AppInput;

export interface RunOptions {
  /** Seconds the caller waits (sync run) or keeps output readable (async run). */
  timeoutSeconds?: number;
  /** Seconds the run may live at most; it is killed after. */
  lifecycleSeconds?: number;
  signal?: AbortSignal;
}

export interface AsyncRun {
  name: string;
  process_uuid: string;
}

export interface SyncRunResult {
  output: string;
  exitCode: number;
}

export interface RemoteFileInfo {
  /** Permission bits (e.g. 0o644), when the daemon sent them. */
  mode?: number;
  user?: string;
  group?: string;
  size?: number;
}

export interface TransferProgress {
  bytes: number;
  /** Total bytes, when known. */
  total?: number;
}
