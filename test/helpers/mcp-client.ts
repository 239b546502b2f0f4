import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** The MCP SDK's own client over Streamable HTTP, authenticated with an App Mesh token. */
export async function mcpClient(url: string, token: string): Promise<Client> {
  const client = new Client({ name: 'appmesh-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
  return client;
}

export interface ToolResult {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: { type: string; text?: string }[];
}

export async function call(client: Client, name: string, args: Record<string, unknown> = {}, options: { signal?: AbortSignal; onprogress?: (progress: { progress: number; message?: string }) => void; timeout?: number } = {}): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args }, undefined, options)) as ToolResult;
}

/** The structured result of a tool that must have succeeded. */
export async function ok<T = Record<string, unknown>>(client: Client, name: string, args: Record<string, unknown> = {}): Promise<T> {
  const result = await call(client, name, args);
  if (result.isError) throw new Error(`${name} failed: ${result.content.map((part) => part.text).join(' ')}`);
  return result.structuredContent as T;
}
