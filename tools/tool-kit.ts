import { z } from 'zod';
import type { McpServer, RegisteredTool } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CreateTaskRequestHandlerExtra, TaskRequestHandlerExtra } from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import { Protocol } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema, CallToolResultSchema, CreateTaskResultSchema, ErrorCode, ListToolsRequestSchema, McpError,
  type CallToolRequest, type CallToolResult, type ServerNotification, type ServerRequest, type Tool, type ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { ServiceError } from '../src/service/errors.js';
import { userTasksOf } from './task-store.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export interface ToolContext {
  core: Core;
  principal: Principal;
  extra: ToolExtra;
  /** Told the handle of the run a tool started (a task names it in its status). */
  started?: (handle: string) => void;
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
  /**
   * The tool may run as an MCP task when the client asks for one: the call returns a task at once
   * and the work goes on past the request. `args` replace the call's (e.g. an unbounded wait).
   */
  task?: { args: Record<string, unknown> };
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
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  const registered = new Map<string, RegisteredTool>();
  let held = core.users.userPermissions(visibleTo);
  /**
   * The tools the user may use now: roles change while a session lives, so the list is checked
   * again on every request and every few seconds; a change sends notifications/tools/list_changed.
   */
  const refresh = () => {
    held = core.users.userPermissions(visibleTo);
    for (const [name, tool] of registered) {
      const allowed = mayUse(byName.get(name)!, held);
      if (allowed !== tool.enabled) tool.update({ enabled: allowed });
    }
  };
  const listing = () => ({ tools: [...registered].filter(([, tool]) => tool.enabled).map(([name]) => listedOf(byName.get(name)!)) });
  routeCalls(server, refresh, listing, (request, extra) => {
    const name = request.params.name;
    // A client that asked for a task expects a task or a protocol error, never a tool result.
    const refuse = (message: string) => {
      if (request.params.task) throw new McpError(ErrorCode.InvalidParams, message);
      return errorResult(new ServiceError(400, message));
    };
    const tool = byName.get(name);
    if (!tool) return undefined;
    if (!mayUse(tool, held)) return refuse(`Tool ${name} needs ${missingPermissions(tool, held)}, which ${visibleTo.name} does not hold`);
    if (!tool.task) return undefined;
    const args = inputSchemaOf(tool).safeParse(request.params.arguments ?? {});
    if (!args.success) return refuse(`Invalid arguments for tool ${name}: ${z.prettifyError(args.error)}`);
    // Called without a task, it keeps the plain behaviour (deadline and handle).
    if (!request.params.task) return callTool(tool, { core, principal: principalOf(extra), extra }, args.data);
    return undefined;
  });
  for (const tool of tools) {
    const config = {
      title: tool.title,
      description: tool.description,
      inputSchema: inputSchemaOf(tool),
      outputSchema: outputSchemaOf(tool),
      annotations: { title: tool.title, ...tool.annotations },
    };
    const entry = tool.task
      ? server.experimental.tasks.registerToolTask(tool.name, { ...config, execution: { taskSupport: 'optional' } }, taskHandler(core, tool, tool.task.args, principalOf) as never)
      : server.registerTool(tool.name, config, ((args: Record<string, unknown>, extra: ToolExtra) => callTool(tool, { core, principal: principalOf(extra), extra }, args)) as never);
    if (!mayUse(tool, held)) entry.disable();
    registered.set(tool.name, entry);
  }
  const timer = setInterval(() => (server.isConnected() ? refresh() : undefined), PERMISSION_RECHECK_MS);
  timer.unref();
  const previous = server.server.onclose;
  server.server.onclose = () => {
    clearInterval(timer);
    previous?.();
  };
}

/** Each tool's argument schema, built once: zod compiles an object schema at its first parse. */
const INPUT_SCHEMAS = new WeakMap<ToolDef, z.ZodObject>();
const OUTPUT_SCHEMAS = new WeakMap<ToolDef, z.ZodObject>();

function inputSchemaOf(tool: ToolDef): z.ZodObject {
  let schema = INPUT_SCHEMAS.get(tool);
  if (!schema) INPUT_SCHEMAS.set(tool, (schema = z.object(tool.input)));
  return schema;
}

function outputSchemaOf(tool: ToolDef): z.ZodObject {
  let schema = OUTPUT_SCHEMAS.get(tool);
  if (!schema) OUTPUT_SCHEMAS.set(tool, (schema = z.looseObject(tool.output)));
  return schema;
}

/** Each tool as tools/list shows it, made once per process (the SDK converts every schema again at every listing). */
const LISTED = new WeakMap<ToolDef, Tool>();

function listedOf(tool: ToolDef): Tool {
  let listed = LISTED.get(tool);
  if (listed) return listed;
  listed = {
    name: tool.name,
    title: tool.title,
    description: tool.description,
    inputSchema: z.toJSONSchema(inputSchemaOf(tool), { target: 'draft-7', io: 'input' }) as Tool['inputSchema'],
    annotations: { title: tool.title, ...tool.annotations },
    execution: { taskSupport: tool.task ? 'optional' : 'forbidden' },
    outputSchema: listedOutputSchema(tool.output),
  };
  LISTED.set(tool, listed);
  return listed;
}

/** Every tool as tools/list shows it (the bundle's build writes them beside its chunks). */
export function listedTools(tools: readonly ToolDef[]): Tool[] {
  return tools.map(listedOf);
}

/**
 * Takes the listings made ahead from the same sources (by the bundle's build) for the tools of
 * the same names; takes none, and answers false, unless there is one for every tool.
 */
export function useListedTools(tools: readonly ToolDef[], listed: readonly Tool[]): boolean {
  const byName = new Map(listed.map((tool) => [tool.name, tool]));
  if (byName.size !== tools.length || !tools.every((tool) => byName.has(tool.name))) return false;
  for (const tool of tools) LISTED.set(tool, byName.get(tool.name)!);
  return true;
}

/**
 * Makes the listing of every tool ahead of the first tools/list, one tool per turn of the event
 * loop, so that requests in between wait for one tool's schemas at most.
 */
export function prepareListing(tools: readonly ToolDef[]): void {
  let next = 0;
  const step = () => {
    if (next >= tools.length) return;
    listedOf(tools[next++]);
    setImmediate(step).unref();
  };
  setImmediate(step).unref();
}

/**
 * The output schema a client is shown: each field of the result by name, with its JSON type(s)
 * as keywords (a check a client compiles cheaply) and the rest of its shape in words (nested
 * fields, enumerated values). A client compiles a validator for every output schema at
 * tools/list: the whole nested shape as keywords doubled that time, the most of a first listing.
 * The whole shape stays the server's: the SDK checks against it the results of the tools it
 * calls. No `$id`: a client that compiles every schema into one compiler refuses an id it holds.
 */
function listedOutputSchema(shape: z.ZodRawShape): Tool['outputSchema'] {
  const properties = Object.fromEntries(
    Object.entries(shape).map(([name, field]) => {
      const types = jsonTypesOf(field as z.ZodType);
      return [name, { ...(types.length ? { type: types.length === 1 ? types[0] : types } : {}), description: describeType(field as z.ZodType) }];
    }),
  );
  return { type: 'object', properties };
}

/** The JSON types a field's values take; none when any value goes. */
function jsonTypesOf(field: z.ZodType): string[] {
  if (field instanceof z.ZodNullable) {
    const inner = jsonTypesOf(field.unwrap() as z.ZodType);
    return inner.length ? [...inner, 'null'] : [];
  }
  if (field instanceof z.ZodOptional || field instanceof z.ZodDefault) return jsonTypesOf(field.unwrap() as z.ZodType);
  if (field instanceof z.ZodNumber) return [field.isInt ? 'integer' : 'number'];
  if (field instanceof z.ZodString || field instanceof z.ZodEnum) return ['string'];
  if (field instanceof z.ZodBoolean) return ['boolean'];
  if (field instanceof z.ZodArray) return ['array'];
  if (field instanceof z.ZodObject || field instanceof z.ZodRecord) return ['object'];
  return [];
}

function describeType(field: z.ZodType): string {
  const described = field.description ? `: ${field.description}` : '';
  if (field instanceof z.ZodNullable) return `${describeType(field.unwrap() as z.ZodType)} or null${described}`;
  if (field instanceof z.ZodOptional) return `${describeType(field.unwrap() as z.ZodType)} (optional)${described}`;
  if (field instanceof z.ZodDefault) return describeType(field.unwrap() as z.ZodType) + described;
  if (field instanceof z.ZodEnum) return field.options.map((option) => JSON.stringify(option)).join(' or ') + described;
  if (field instanceof z.ZodArray) return `array of ${describeType(field.element as z.ZodType)}${described}`;
  if (field instanceof z.ZodObject) return `object (${Object.entries(field.shape).map(([name, inner]) => `${name}: ${describeType(inner as z.ZodType)}`).join(', ')})${described}`;
  if (field instanceof z.ZodRecord) {
    const values = field._zod.def.valueType as z.ZodType;
    return (values instanceof z.ZodUnknown || values instanceof z.ZodAny ? 'object' : `object of ${describeType(values)}`) + described;
  }
  if (field instanceof z.ZodNumber) return (field.isInt ? 'integer' : 'number') + described;
  if (field instanceof z.ZodUnknown || field instanceof z.ZodAny) return `any${described}`;
  return field._zod.def.type + described;
}

/** How often an idle session's tool list follows its user's roles. */
const PERMISSION_RECHECK_MS = 5000;

async function callTool(tool: ToolDef, context: ToolContext, args: Record<string, unknown>): Promise<CallToolResult> {
  try {
    const result = await tool.run(context, args as never);
    const content: CallToolResult['content'] = [{ type: 'text', text: JSON.stringify(result) }];
    // A result that bounds an output links the whole of it, for clients that follow links.
    if (typeof result.output_resource === 'string') {
      content.push({ name: `${String(result.handle ?? 'run')} output`, uri: result.output_resource, description: 'The complete output, in pages', mimeType: 'text/plain', type: 'resource_link' });
    }
    // Fields in the order the protocol's schema gives them (see answeredAsIs).
    return { content, structuredContent: result };
  } catch (error) {
    return errorResult(error);
  }
}

/**
 * A task-augmented call: the task is created and returned at once; the tool runs in the
 * background with its own signal, which tasks/cancel aborts (the tools stop their run's process
 * tree through the service layer when their signal aborts). The result is stored for tasks/result
 * and announced to the session while it is connected.
 */
function taskHandler(core: Core, tool: ToolDef, taskArgs: Record<string, unknown>, principalOf: (extra: ToolExtra) => Principal) {
  return {
    createTask: async (args: Record<string, unknown>, extra: CreateTaskRequestHandlerExtra) => {
      const principal = principalOf(extra);
      const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl ?? undefined });
      const controller = new AbortController();
      userTasksOf(core).onCancel(principal.name, task.taskId, () => controller.abort());
      // Progress belongs to the request, which has already been answered with the task.
      const background: ToolExtra = { ...extra, signal: controller.signal, _meta: undefined, sendNotification: async () => undefined };
      const started = (handle: string) => void extra.taskStore.updateTaskStatus(task.taskId, 'working', `Running as handle ${handle} (read_output and search_output take it)`).catch(() => undefined);
      void callTool(tool, { core, principal, extra: background, started }, { ...args, ...taskArgs }).then((result) =>
        extra.taskStore.storeTaskResult(task.taskId, result.isError ? 'failed' : 'completed', result).catch(() => undefined),
      );
      return { task };
    },
    getTask: async (_args: unknown, extra: TaskRequestHandlerExtra) => extra.taskStore.getTask(extra.taskId),
    getTaskResult: async (_args: unknown, extra: TaskRequestHandlerExtra) => (await extra.taskStore.getTaskResult(extra.taskId)) as CallToolResult,
  };
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
 * Answers some tools/call requests before the SDK does: a tool the caller may not use is not
 * listed, and called by name anyway it answers which permission is missing instead of the SDK's
 * "disabled". tools/list and tools/call first bring the list up to date with the user's roles.
 * The SDK installs its handlers at the first registration: they are wrapped as they are installed.
 * A tool's result is checked against the protocol's schema only when it is not one of the
 * shapes these tools make (answeredAsIs).
 */
function routeCalls(
  server: McpServer,
  refresh: () => void,
  listing: () => { tools: Tool[] },
  answer: (request: CallToolRequest, extra: ToolExtra) => CallToolResult | Promise<CallToolResult> | undefined,
): void {
  const inner = server.server;
  const install = inner.setRequestHandler.bind(inner);
  type Handler = (request: CallToolRequest, extra: ToolExtra) => unknown;
  const wrap = (schema: unknown, handler: Handler): Handler => {
    // Listed from the tools made once per process, not converted again by the SDK.
    if (schema === ListToolsRequestSchema) return () => (refresh(), listing());
    return handler;
  };
  inner.setRequestHandler = ((schema: unknown, handler: Handler) => {
    if (schema !== CallToolRequestSchema) return install(schema as never, wrap(schema, handler) as never);
    // The protocol layer has parsed the request against CallToolRequestSchema already; the
    // server's own wrapper would parse it again, and parse every result (CallToolResultSchema).
    Protocol.prototype.setRequestHandler.call(inner, CallToolRequestSchema, async (request: CallToolRequest, extra: ToolExtra) => {
      refresh();
      const result = await (answer(request, extra) ?? handler(request, extra));
      return request.params.task ? checkedTask(result) : answeredAsIs(result) ? result : checkedResult(result);
    });
  }) as typeof inner.setRequestHandler;
}

/** A task's creation result, checked as the SDK's server checks it. */
function checkedTask(result: unknown): unknown {
  const checked = CreateTaskResultSchema.safeParse(result);
  if (!checked.success) throw new McpError(ErrorCode.InvalidParams, `Invalid task creation result: ${checked.error.message}`);
  return checked.data;
}

/** A tool result, checked (and put in the schema's shape) as the SDK's server does. */
function checkedResult(result: unknown): unknown {
  const checked = CallToolResultSchema.safeParse(result);
  if (!checked.success) throw new McpError(ErrorCode.InvalidParams, `Invalid tools/call result: ${checked.error.message}`);
  return checked.data;
}

const TEXT_KEYS = ['type', 'text'];
const LINK_KEYS = ['name', 'uri', 'description', 'mimeType', 'type'];
const RESULT_KEYS = ['content', 'structuredContent', 'isError'];

/**
 * True for a result that CallToolResultSchema would give back unchanged, key for key and in the
 * same order: the results these tools make (callTool, errorResult, the SDK's tool errors). Such
 * a result is sent as it is, its JSON the same as after the schema; anything else is parsed.
 */
export function answeredAsIs(result: unknown): boolean {
  if (!isPlainObject(result) || !inOrder(Object.keys(result), RESULT_KEYS)) return false;
  const { content, structuredContent, isError } = result;
  if (!Array.isArray(content) || content.length === 0) return false;
  if (isError !== undefined && typeof isError !== 'boolean') return false;
  if (structuredContent !== undefined && !isPlainObject(structuredContent)) return false;
  return content.every((item: unknown) => {
    if (!isPlainObject(item) || !Object.values(item).every((value) => typeof value === 'string')) return false;
    const keys = Object.keys(item);
    if (item.type === 'text') return keys.length === 2 && keys[0] === TEXT_KEYS[0] && keys[1] === TEXT_KEYS[1];
    return item.type === 'resource_link' && keys.includes('name') && keys.includes('uri') && inOrder(keys, LINK_KEYS);
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Every key is one of `order`, each once, in that order. */
function inOrder(keys: readonly string[], order: readonly string[]): boolean {
  let at = -1;
  for (const key of keys) {
    const index = order.indexOf(key);
    if (index <= at) return false;
    at = index;
  }
  return true;
}

export function errorResult(error: unknown): CallToolResult {
  const message = error instanceof ServiceError ? `${error.message || 'request failed'} (status ${error.status})` : (error as Error)?.message ?? String(error);
  return { content: [{ type: 'text', text: message }], isError: true };
}
