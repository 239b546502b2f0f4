/** The typed client of the App Mesh REST API. */
export { AppMeshClient, type LoginOptions } from './appmesh-client.js';
export { AppMeshError, type AppMeshErrorKind, type TotpChallenge } from './errors.js';
export { Session, normalizeUrl, type SessionOptions, type RequestOptions, type Query } from './session.js';
export { AppsApi, type FollowOptions } from './apps.js';
export { RunsApi } from './runs.js';
export { FilesApi, type DownloadOptions, type UploadOptions, type TransferOptions } from './files.js';
export { UsersApi } from './users.js';
export { SystemApi, type ConfigPatch } from './system.js';
export { TasksApi } from './tasks.js';
export type { AppEvent, AppEventType, EventOptions } from './events.js';
export type * from './types.js';
