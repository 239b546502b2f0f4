// Minimal types for the parts of the `appmesh` npm client (plain JavaScript) used by the tests.
declare module 'appmesh' {
  export type AppJson = Record<string, unknown>;

  export class AppMeshError extends Error {
    statusCode: number | null;
    responseData: unknown;
    timestamp: string;
    constructor(message: string, statusCode?: number | null, responseData?: unknown);
  }

  export class AppOutput {
    statusCode: number;
    output: string;
    outPosition: number | null;
    exitCode: number | null;
  }

  export class AppRun {
    appName: string;
    procUid: string;
    wait(outputHandler?: (output: string) => void, timeout?: number): Promise<number | null>;
  }

  export class AppMeshClient {
    constructor(baseURL?: string, sslConfig?: Record<string, unknown> | null);
    login(username: string, password: string, totpCode?: string | null, tokenExpire?: string | number, audience?: string): Promise<void>;
    logout(): Promise<void>;
    list_apps(): Promise<AppJson[]>;
    get_app(name: string): Promise<AppJson>;
    check_app_health(name: string): Promise<boolean>;
    add_app(name: string, appJson: AppJson): Promise<AppJson>;
    delete_app(name: string): Promise<boolean>;
    enable_app(name: string): Promise<boolean>;
    disable_app(name: string): Promise<boolean>;
    get_app_output(
      appName: string, stdoutPosition?: number, stdoutIndex?: number, stdoutMaxsize?: number, processUuid?: string, timeout?: number | string,
    ): Promise<AppOutput>;
    run_app_sync(app: AppJson, outputHandler?: ((output: unknown) => void) | null, maxTime?: number | string, lifecycle?: number | string): Promise<number | null>;
    run_app_async(app: AppJson, maxTime?: number | string, lifecycle?: number | string): Promise<AppRun>;
    wait_for_async_run(run: AppRun, outputHandler?: ((output: string) => void) | null, timeout?: number): Promise<number | null>;
    renew_token(tokenExpire?: string | number): Promise<void>;
    get_totp_secret(): Promise<string>;
    enable_totp(totpCode: string): Promise<void>;
    validate_totp(username: string, totpChallenge: string, totpCode: string, tokenExpire?: string | number): Promise<void>;
    disable_totp(user?: string): Promise<boolean>;
    update_password(oldPassword: string, newPassword: string, username?: string): Promise<boolean>;
    add_user(username: string, userData: Record<string, unknown>): Promise<boolean>;
    delete_user(username: string): Promise<boolean>;
    lock_user(username: string): Promise<boolean>;
    unlock_user(username: string): Promise<boolean>;
    list_users(): Promise<Record<string, Record<string, unknown>>>;
    get_current_user(): Promise<Record<string, unknown>>;
    list_groups(): Promise<string[]>;
    list_permissions(): Promise<string[]>;
    get_user_permissions(): Promise<string[]>;
    list_roles(): Promise<Record<string, string[]>>;
    update_role(roleName: string, rolePermissionJson: string[]): Promise<boolean>;
    delete_role(roleName: string): Promise<boolean>;
    upload_file(localFile: string, filePath: string, applyAttrs?: boolean): Promise<void>;
    download_file(filePath: string, localFile: string, applyAttrs?: boolean): Promise<void>;
    run_task(appName: string, data: unknown, timeout?: number): Promise<unknown>;
    get_config(): Promise<{ BaseConfig: Record<string, unknown>; REST: { JWT: { JWTSalt: string } } & Record<string, unknown> } & Record<string, unknown>>;
    set_config(config: Record<string, unknown>): Promise<Record<string, unknown>>;
    set_log_level(level?: string): Promise<string>;
    add_label(labelName: string, labelValue: string): Promise<boolean>;
    delete_label(labelName: string): Promise<boolean>;
    list_labels(): Promise<Record<string, string>>;
    metrics(): Promise<string>;
    get_host_resources(): Promise<Record<string, unknown>>;
    /** The underlying axios instance; in Node its default `Cookie` header carries the session. */
    _client: { defaults: { headers: Record<string, unknown> } };
  }

  export default AppMeshClient;
}
