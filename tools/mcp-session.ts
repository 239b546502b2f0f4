import { readFileSync } from 'node:fs';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import type { EventSubscriptions } from '../src/transport/event-subscriptions.js';
import { McpHttpTransport } from './http-transport.js';
import { ALL_TOOLS, createMcpServer } from './mcp-server.js';
import { prepareListing, useListedTools, type ToolExtra } from './tool-kit.js';

/** Beside the bundle's chunks: every tool as tools/list shows it, made by the build from the same sources. */
const LISTING_MADE_AHEAD = new URL('./tool-listing.json', import.meta.url);

// A first session's tools/list finds the tools' schemas made: by the bundle's build, else now,
// in the background, as soon as this module loads (ahead of the session).
if (!useListedTools(ALL_TOOLS, listingMadeAhead())) prepareListing(ALL_TOOLS);

function listingMadeAhead(): Tool[] {
  try {
    const listed: unknown = JSON.parse(readFileSync(LISTING_MADE_AHEAD, 'utf8'));
    return Array.isArray(listed) ? (listed as Tool[]) : [];
  } catch {
    return [];
  }
}

export { warmUpSession } from './session-warm-up.js';

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
