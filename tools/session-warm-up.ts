import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { JSONRPCMessageSchema, LATEST_PROTOCOL_VERSION, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { ADMIN_USER } from '../src/auth/exec-user.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { createMcpServer } from './mcp-server.js';

/**
 * A first session pays for everything done for the first time in the process: the SDK's code
 * compiled as it first runs, zod's parsers compiled at their first parse, the tools' schemas
 * built. A session of the daemon's own with itself, over a transport in memory, does that once
 * ahead, while no client waits (it opens, initializes, lists the tools and closes; it calls no
 * tool and starts nothing). Its caller is admin, whom every daemon has.
 */
export async function warmUpSession(core: Core): Promise<void> {
  const principal: Principal = { name: ADMIN_USER, group: ADMIN_USER, audience: 'appmesh-warm-up' };
  const server = createMcpServer(core, principal, () => principal);
  const transport = new LoopTransport();
  await server.connect(transport);
  try {
    await transport.ask({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'warm-up', version: '0' } } });
    transport.tell({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await transport.ask({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
  } finally {
    await server.close();
  }
}

/**
 * A transport whose other end is this process: a request's promise resolves with its response.
 * Messages are parsed as the HTTP transport parses them.
 */
class LoopTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  private readonly waiting = new Map<unknown, (message: JSONRPCMessage) => void>();

  async start(): Promise<void> {}

  async send(message: JSONRPCMessage): Promise<void> {
    if ('id' in message) this.waiting.get(message.id)?.(message);
  }

  async close(): Promise<void> {
    this.onclose?.();
  }

  ask(message: JSONRPCMessage & { id: number }): Promise<JSONRPCMessage> {
    return new Promise((resolve) => {
      this.waiting.set(message.id, resolve);
      this.onmessage?.(JSONRPCMessageSchema.parse(message));
    });
  }

  tell(message: JSONRPCMessage): void {
    this.onmessage?.(JSONRPCMessageSchema.parse(message));
  }
}
