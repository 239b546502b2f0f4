import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { CallToolRequestSchema, type CallToolRequest, type CallToolResult, type ServerNotification, type ServerRequest, type ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
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
  /** And at least one of these (a tool whose use depends on what the caller owns, e.g. delete_app). */
  anyPermission?: readonly string[];
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
  const hidden = new Map(tools.filter((tool) => !mayUse(tool, held)).map((tool) => [tool.name, tool]));
  refuseHiddenTools(server, (name) => {
    const tool = hidden.get(name);
    return tool && errorResult(new ServiceError(400, `Tool ${name} needs ${missingPermissions(tool, held)}, which ${visibleTo.name} does not hold`));
  });
  for (const tool of tools) {
    if (hidden.has(tool.name)) continue;
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

function mayUse(tool: ToolDef, held: readonly string[]): boolean {
  return tool.permissions.every((permission) => held.includes(permission)) && (!tool.anyPermission || tool.anyPermission.some((permission) => held.includes(permission)));
}

function missingPermissions(tool: ToolDef, held: readonly string[]): string {
  const missing = tool.permissions.filter((permission) => !held.includes(permission));
  if (missing.length) return `the permission${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  return `one of the permissions ${tool.anyPermission?.join(', ')}`;
}

/**
 * A tool the caller may not use is not listed; called by name anyway, it answers which
 * permission is missing instead of the SDK's "not found". The SDK installs its tools/call handler
 * at the first registration: it is wrapped as it is installed.
 */
function refuseHiddenTools(server: McpServer, refusal: (name: string) => CallToolResult | undefined): void {
  const inner = server.server;
  const install = inner.setRequestHandler.bind(inner);
  type Handler = (request: CallToolRequest, extra: ToolExtra) => unknown;
  const wrap = (handler: Handler): Handler => (request, extra) => refusal(request.params.name) ?? handler(request, extra);
  inner.setRequestHandler = ((schema: unknown, handler: Handler) => install(schema as never, (schema === CallToolRequestSchema ? wrap(handler) : handler) as never)) as typeof inner.setRequestHandler;
}

export function errorResult(error: unknown): CallToolResult {
  const message = error instanceof ServiceError ? `${error.message || 'request failed'} (status ${error.status})` : (error as Error)?.message ?? String(error);
  return { isError: true, content: [{ type: 'text', text: message }] };
}
