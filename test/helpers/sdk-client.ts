import { expect, vi } from 'vitest';
import { AppMeshError } from 'appmesh';

/** The npm client console.logs every error it rejects with; keep the expected failures quiet. */
export function quietSdkErrors(): void {
  const log = console.log.bind(console);
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('AppMeshClient error:')) return;
    log(...args);
  });
}

/** The client call must reject with an AppMeshError of this status. */
export async function expectRejection(promise: Promise<unknown>, statusCode: number): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AppMeshError);
  expect((error as AppMeshError).statusCode).toBe(statusCode);
}
