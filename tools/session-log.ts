import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, SetLevelRequestSchema, type LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { ServiceError } from '../src/service/errors.js';
import type { AppEvent } from '../src/supervisor/events.js';
import { ALL_APPS, type EventSubscription, type EventSubscriptions } from '../src/transport/event-subscriptions.js';

const SEVERITY: readonly LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/**
 * logging/setLevel and the log notifications of one session: the supervisor's events (start,
 * exit, health, removal) of the apps and runs the session's user may read, at or above the
 * level the client set. The subscription behind it is the user's like any other (it counts
 * against Limits.MaxSubscriptionsPerUser) and ends with the session.
 */
export function registerSessionLog(server: McpServer, core: Core, user: Principal, events: EventSubscriptions | undefined): void {
  let threshold = SEVERITY.indexOf('info');
  let subscription: EventSubscription | undefined;
  /** Apps the user was seen to read: their removal is told too (the app is gone by then). */
  const readable = new Set<string>();

  const mayRead = (name: string) => {
    try {
      core.apps.runState(user, name);
      readable.add(name);
      return true;
    } catch {
      return false;
    }
  };
  const deliver = (event: AppEvent): boolean => {
    if (!server.isConnected()) return false;
    const visible = event.event_type === 'REMOVED' ? readable.delete(event.app_name) : mayRead(event.app_name);
    if (!visible) return true;
    const { level, text } = describe(event);
    if (SEVERITY.indexOf(level) < threshold) return true;
    void server.server
      .notification({ method: 'notifications/message', params: { level, logger: 'appmesh', data: { message: text, app: event.app_name, event: event.event_type, ...(event.data ?? {}) } } })
      .catch(() => undefined);
    return true;
  };

  server.server.setRequestHandler(SetLevelRequestSchema, (request) => {
    threshold = SEVERITY.indexOf(request.params.level);
    if (events && !subscription) {
      try {
        core.shares.admit('MaxSubscriptionsPerUser', user.name, events.heldBy(user.name));
      } catch (error) {
        throw new McpError(ErrorCode.InvalidRequest, error instanceof ServiceError ? error.message : String(error));
      }
      subscription = events.add(user.name, ALL_APPS, ['START', 'EXIT', 'HEALTH', 'REMOVED'], { deliver });
      const previous = server.server.onclose;
      server.server.onclose = () => {
        if (subscription) events.discard(subscription.id);
        previous?.();
      };
    }
    return {};
  });
}

function describe(event: AppEvent): { level: LoggingLevel; text: string } {
  const data = event.data ?? {};
  switch (event.event_type) {
    case 'START':
      return { level: 'info', text: `${event.app_name} started${data.pid ? ` (pid ${String(data.pid)})` : ''}` };
    case 'EXIT': {
      const code = data.exit_code;
      const failed = code !== 0 && code !== undefined && code !== null;
      const error = typeof data.last_error === 'string' && data.last_error ? `: ${data.last_error}` : '';
      return { level: failed ? 'warning' : 'info', text: `${event.app_name} exited with code ${String(code)}${failed ? error : ''}` };
    }
    case 'HEALTH':
      return { level: data.health === 0 ? 'info' : 'warning', text: `${event.app_name} is ${data.health === 0 ? 'healthy' : 'unhealthy'}` };
    case 'REMOVED':
      return { level: 'notice', text: `${event.app_name} was removed` };
    default:
      return { level: 'debug', text: `${event.app_name}: ${event.event_type}` };
  }
}
