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
  }

  export default AppMeshClient;
}
