import type { ConfigDocument } from '../config/config-schema.js';
import type { Logger } from '../util/log.js';
import type { AppService } from './app-service.js';
import type { AuthService } from './auth-service.js';
import type { UserService } from './user-service.js';
import type { TaskService } from './task-service.js';
import type { ConfigService } from './config-service.js';

/** The service layer every face (REST, MCP, MQTT) calls: one method per operation. */
export interface Core {
  auth: AuthService;
  apps: AppService;
  users: UserService;
  tasks: TaskService;
  /** Configuration and labels (the operations; `config()` is the running document). */
  settings: ConfigService;
  /** The effective configuration (file + environment overrides). */
  config: () => ConfigDocument;
  log: Logger;
}
