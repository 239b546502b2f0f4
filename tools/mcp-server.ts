import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { jsonSchemaValidator } from '@modelcontextprotocol/sdk/validation';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import type { EventSubscriptions } from '../src/transport/event-subscriptions.js';
import { AGENT_TOOLS } from './agent-tools.js';
import { COMPAT_TOOLS } from './compat-tools.js';
import { FILE_TOOLS } from './file-tools.js';
import { registerPrompts } from './prompts.js';
import { registerResources } from './resources.js';
import { registerSessionLog } from './session-log.js';
import { userTasksOf } from './task-store.js';
import { registerTools, type ToolDef, type ToolExtra } from './tool-kit.js';

export const ALL_TOOLS: readonly ToolDef[] = [...COMPAT_TOOLS, ...AGENT_TOOLS, ...FILE_TOOLS];

const INSTRUCTIONS = [
  'App Mesh TS runs and supervises programs on this machine.',
  'Use run_command for shell commands: it waits up to yield_ms and otherwise hands back a handle (read_output, wait_run, write_stdin, kill_run).',
  'Output is bounded; follow the cursor or read the output resource for the rest.',
  'A client that supports MCP tasks may call run_command, run_app_sync and wait_run as a task: it returns at once and tasks/result brings the end of the run.',
  'Use start_service for servers and watchers that must keep running, and tail_log to see them.',
].join(' ');

/**
 * The SDK validates only elicited input with JSON Schema, which these tools never ask for: its
 * validator (a compiler with all its formats) is made at first use, not with every session.
 */
let ajv: AjvJsonSchemaValidator | undefined;
const SCHEMA_VALIDATOR: jsonSchemaValidator = { getValidator: (schema) => (ajv ??= new AjvJsonSchemaValidator()).getValidator(schema) };

/**
 * An MCP server for one caller: it lists the tools the caller's permissions allow; every call
 * is authorised again by the service layer with the principal of that request. With `events`,
 * a client that sets a log level is told of the caller's apps and runs starting and exiting.
 */
export function createMcpServer(core: Core, visibleTo: Principal, principalOf: (extra: ToolExtra) => Principal, events?: EventSubscriptions): McpServer {
  const server = new McpServer(
    { name: 'appmesh-ts', version: '0.1.0' },
    {
      instructions: INSTRUCTIONS,
      // Long runs as MCP tasks (run_command, run_app_sync, wait_run), kept per user across sessions.
      capabilities: { tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } }, logging: {} },
      taskStore: userTasksOf(core).storeFor(visibleTo.name),
      jsonSchemaValidator: SCHEMA_VALIDATOR,
    },
  );
  registerTools(server, core, ALL_TOOLS, visibleTo, principalOf);
  registerResources(server, core, visibleTo, principalOf);
  registerPrompts(server, core, visibleTo, principalOf);
  registerSessionLog(server, core, visibleTo, events);
  return server;
}
