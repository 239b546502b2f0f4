import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, SubscribeRequestSchema, UnsubscribeRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { ServiceError } from '../src/service/errors.js';
import type { ToolExtra } from './tool-kit.js';

/** Updates of one resource are coalesced: at most one notification per interval. */
export const OUTPUT_UPDATE_INTERVAL_MS = 500;
/** Resources one session may follow at once. */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 100;

const OUTPUT_URI = /^appmesh:\/\/apps\/([^/?#]+)\/output(?:\?.*)?$/;

interface Watched {
  name: string;
  principal: Principal;
  size: number;
  running: boolean;
}

/**
 * resources/subscribe on an application's output (`appmesh://apps/<name>/output`, runs
 * included): while it grows or the run ends the session gets notifications/resources/updated,
 * coalesced to one per interval whatever the output rate; the reader then reads the new pages.
 * Subscribing needs read access to the output, checked by the service layer like a read.
 */
export function registerOutputSubscriptions(server: McpServer, core: Core, principalOf: (extra: ToolExtra) => Principal): void {
  const watched = new Map<string, Watched>();
  let timer: NodeJS.Timeout | undefined;

  const stop = () => {
    clearInterval(timer);
    timer = undefined;
    watched.clear();
  };
  const tick = () => {
    if (!server.isConnected()) return stop();
    for (const [uri, entry] of watched) {
      let size: number;
      let running: boolean;
      try {
        ({ output_size: size, running } = core.apps.runState(entry.principal, entry.name));
      } catch {
        // Gone or no longer readable: one last update (a read will say why), then no more.
        watched.delete(uri);
        void server.server.sendResourceUpdated({ uri }).catch(() => undefined);
        continue;
      }
      if (size === entry.size && running === entry.running) continue;
      entry.size = size;
      entry.running = running;
      void server.server.sendResourceUpdated({ uri }).catch(() => undefined);
    }
    if (!watched.size) stop();
  };

  server.server.registerCapabilities({ resources: { subscribe: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, (request, extra) => {
    const uri = request.params.uri;
    const name = outputName(uri);
    const principal = principalOf(extra);
    let state;
    try {
      state = core.apps.runState(principal, name);
    } catch (error) {
      throw new McpError(ErrorCode.InvalidParams, error instanceof ServiceError ? `${error.message} (status ${error.status})` : String(error));
    }
    if (!watched.has(uri) && watched.size >= MAX_SUBSCRIPTIONS_PER_SESSION) {
      throw new McpError(ErrorCode.InvalidParams, `Too many subscriptions: at most ${MAX_SUBSCRIPTIONS_PER_SESSION} per session; unsubscribe from some first`);
    }
    watched.set(uri, { name, principal, size: state.output_size, running: state.running });
    if (!timer) {
      timer = setInterval(tick, OUTPUT_UPDATE_INTERVAL_MS);
      timer.unref();
    }
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    watched.delete(request.params.uri);
    if (!watched.size) stop();
    return {};
  });
}

function outputName(uri: string): string {
  const match = OUTPUT_URI.exec(uri);
  if (!match) throw new McpError(ErrorCode.InvalidParams, `Only application output can be followed (appmesh://apps/<name>/output), not ${uri.slice(0, 200)}`);
  try {
    return decodeURIComponent(match[1]);
  } catch {
    throw new McpError(ErrorCode.InvalidParams, `Invalid application name in ${uri.slice(0, 200)}`);
  }
}
