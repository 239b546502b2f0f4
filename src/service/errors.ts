/**
 * The one error type every operation throws for an expected failure. Each face maps it once:
 * REST to `status` + `{"message"}`, MCP to an `isError` result, MQTT to a reply's `http_status`.
 */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Some statuses of the original carry no body at all (e.g. 417 on output reads). */
    readonly emptyBody = false,
    readonly headers: Record<string, string> = {},
    /** A body other than `{"message"}` (the TOTP challenge of a 428). */
    readonly body?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}

export const badRequest = (message: string): ServiceError => new ServiceError(400, message);
export const unauthorized = (message: string): ServiceError => new ServiceError(401, message);
export const forbidden = (message: string): ServiceError => new ServiceError(403, message);
export const notFound = (message: string): ServiceError => new ServiceError(404, message);
export const noSuchApp = (): ServiceError => notFound('No such application');
export const expectationFailed = (message = ''): ServiceError => new ServiceError(417, message, true);
export const preconditionFailed = (message: string): ServiceError => new ServiceError(412, message);
export const serviceUnavailable = (message: string): ServiceError => new ServiceError(503, message);
export const tooManyRequests = (message: string, retryAfterSeconds: number): ServiceError =>
  new ServiceError(429, message, false, { 'Retry-After': String(retryAfterSeconds) });
