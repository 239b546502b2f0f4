import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { ServiceError } from '../src/service/errors.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolContext {
  core: Core;
  principal: Principal;
  extra: ToolExtra;
}

/** One MCP tool over the service layer: the face only translates arguments and results. */
export interface ToolDef<S extends z.ZodRawShape = z.ZodRawShape> {
  name: string;
  title: string;
  description: string;
  /** Permissions the caller needs to see the tool; the service layer checks again on every call. */
  permissions: readonly string[];
  input: S;
  /** Shape of `structuredContent` (also sent as JSON text). */
  output: z.ZodRawShape;
  annotations: Required<Pick<ToolAnnotations, 'readOnlyHint' | 'destructiveHint' | 'idempotentHint' | 'openWorldHint'>>;
  run(context: ToolContext, args: z.infer<z.ZodObject<S>>): Promise<Record<string, unknown>>;
}

export function defineTool<S extends z.ZodRawShape>(def: ToolDef<S>): ToolDef {
  return def as unknown as ToolDef;
}

/** Annotation presets, chosen per tool. */
export const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;
export const ADDITIVE = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false } as const;
export const IDEMPOTENT_WRITE = { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;
export const DESTRUCTIVE = { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false } as const;
/** Running arbitrary commands reaches outside the daemon (network, files, other programs). */
export const EXECUTES = { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true } as const;

/**
 * Registers the tools the principal may see. A refusal or unknown handle is an `isError` result
 * with the service's message; a command that ran and failed is a normal result with its code.
 */
export function registerTools(server: McpServer, core: Core, tools: readonly ToolDef[], visibleTo: Principal, principalOf: (extra: ToolExtra) => Principal): void {
  const held = core.users.userPermissions(visibleTo);
  for (const tool of tools) {
    if (!tool.permissions.every((permission) => held.includes(permission))) continue;
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.input,
        outputSchema: z.looseObject(tool.output),
        annotations: { title: tool.title, ...tool.annotations },
      },
      (async (args: Record<string, unknown>, extra: ToolExtra): Promise<CallToolResult> => {
        try {
          const result = await tool.run({ core, principal: principalOf(extra), extra }, args as never);
          return { structuredContent: result, content: [{ type: 'text', text: JSON.stringify(result) }] };
        } catch (error) {
          return errorResult(error);
        }
      }) as never,
    );
  }
}

export function errorResult(error: unknown): CallToolResult {
  const message = error instanceof ServiceError ? `${error.message || 'request failed'} (status ${error.status})` : (error as Error)?.message ?? String(error);
  return { isError: true, content: [{ type: 'text', text: message }] };
}
