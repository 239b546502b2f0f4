import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import type { EventSubscriptions } from '../src/transport/event-subscriptions.js';
import { McpHttpTransport } from './http-transport.js';
import { ALL_TOOLS, createMcpServer } from './mcp-server.js';
import { prepareListing, type ToolExtra } from './tool-kit.js';

// Loaded ahead of a first session: its tools/list then finds the tools' schemas made.
prepareListing(ALL_TOOLS);

export interface McpSession {
  transport: McpHttpTransport;
  server: McpServer;
}

/**
 * One MCP session over Streamable HTTP: a server listing what `principal` may use, whose tool
 * calls run as the principal of each request (set by the HTTP face in `authInfo`).
 */
export function openMcpSession(core: Core, principal: Principal, onInitialized: (id: string) => void, onClosed: (id: string) => void, events?: EventSubscriptions): McpSession {
  const server = createMcpServer(core, principal, (extra: ToolExtra) => (extra.authInfo?.extra?.principal as Principal | undefined) ?? principal, events);
  const transport = new McpHttpTransport({ initialized: onInitialized, closed: onClosed });
  void server.connect(transport);
  return { transport, server };
}
