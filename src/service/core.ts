import type { ConfigDocument } from '../config/config-schema.js';
import type { Logger } from '../util/log.js';
import type { AppService } from './app-service.js';
import type { AuthService } from './auth-service.js';
import type { UserService } from './user-service.js';
import type { FileService } from '../files/file-service.js';
import type { ObservabilityService } from './observability-service.js';
import type { TaskService } from './task-service.js';
import type { ConfigService } from './config-service.js';
import type { WorkspaceService } from './workspace-service.js';
import type { UserShares } from './user-shares.js';
import type { RelayService } from './relay-service.js';

/** The service layer every face (REST, MCP, MQTT) calls: one method per operation. */
export interface Core {
  auth: AuthService;
  apps: AppService;
  users: UserService;
  /** File download and upload. */
  files: FileService;
  tasks: TaskService;
  workspaces: WorkspaceService;
  /** Configuration and labels (the operations; `config()` is the running document). */
  settings: ConfigService;
  /** The effective configuration (file + environment overrides). */
  config: () => ConfigDocument;
  /** Per-user caps (Limits.Max*PerUser) for what a face holds itself, e.g. MCP sessions. */
  shares: UserShares;
  /** Whether and where `X-Target-Host` may relay a request (REST.ClusterNodes). */
  relay: RelayService;
  /** Prometheus metrics and host resources. */
  observability: ObservabilityService;
  log: Logger;
}
