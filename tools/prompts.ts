import { z } from 'zod';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, type GetPromptResult } from '@modelcontextprotocol/sdk/types.js';
import type { Principal } from '../src/auth/principal.js';
import type { Core } from '../src/service/core.js';
import { ServiceError } from '../src/service/errors.js';
import { readableApps } from './resources.js';
import type { ToolExtra } from './tool-kit.js';

/** Bytes of output a diagnosis starts from; the agent reads more with read_output or the resource. */
const DIAGNOSIS_TAIL_BYTES = 4096;

/**
 * Prompts that teach an agent to use the sandbox well. Each is listed only to callers who hold
 * the permissions of the tools it leads to; argument values complete from what the caller may
 * see (completion has no request context: the session's user decides).
 */
export function registerPrompts(server: McpServer, core: Core, visibleTo: Principal, principalOf: (extra: ToolExtra) => Principal): void {
  const held = core.users.userPermissions(visibleTo);
  const holds = (...permissions: string[]) => permissions.every((permission) => held.includes(permission));
  const appName = () => completable(z.string().describe('Application or run name'), async (value) => (await readableApps(core, visibleTo)).filter((name) => name.startsWith(value)).slice(0, 100));
  const workspace = () =>
    completable(z.string().optional().describe('Workspace to work in (default: "default")'), (value) =>
      core.workspaces.list(visibleTo).map((held) => held.name).filter((name) => name.startsWith(value ?? '')).slice(0, 100),
    );

  if (holds('app-view', 'app-output-view')) {
    server.registerPrompt(
      'diagnose_service',
      { title: 'Diagnose a failing service', description: 'Status, last error, exit code and the tail of the output of an application, with the steps to find the cause.', argsSchema: { name: appName() } },
      async ({ name }, extra) => diagnose(core, principalOf(extra), name),
    );
  }
  if (holds('app-run-async', 'app-output-view')) {
    server.registerPrompt(
      'run_build',
      { title: 'Run a build and report', description: 'Runs a build or test command in a workspace and reports the outcome with the errors that matter.', argsSchema: { command: z.string().describe('The build command, e.g. "npm ci && npm test"'), workspace: workspace() } },
      ({ command, workspace: name }) => instructions([
        `Run this build in the workspace "${name ?? 'default'}": ${command}`,
        '1. Call run_command with the command and workspace (as a task if you support MCP tasks; otherwise with yield_ms, then wait_run on the handle until it exits).',
        '2. If the exit code is not 0, call search_output on the handle for "error" and "fail", and read_output around the first matches.',
        '3. Report: the exit code, how long it took, the first real error with its file and line, and what to change. Do not paste the whole log; link the output_resource instead.',
      ]),
    );
  }
  if (holds('app-reg', 'app-output-view')) {
    server.registerPrompt(
      'deploy_service',
      { title: 'Deploy a service', description: 'Starts a long-running service under supervision and checks that it came up healthy.', argsSchema: { name: z.string().describe('Service name'), command: z.string().describe('The command that runs the service'), workspace: workspace() } },
      ({ name, command, workspace: where }) => instructions([
        `Deploy the service "${name}" running: ${command} (workspace "${where ?? 'default'}").`,
        '1. Call start_service with name, command and workspace; it is restarted when it exits and outlives this conversation.',
        '2. Wait a few seconds, then call get_app and tail_log: it must be running (a pid), with no error in its output.',
        '3. If it exits or restarts, use the diagnose_service prompt or search_output for the error, fix the command, and call start_service again (it replaces the definition).',
        '4. Report the pid, how to reach it, and how to stop it (disable_app or delete_app).',
      ]),
    );
  }
}

async function diagnose(core: Core, principal: Principal, name: string): Promise<GetPromptResult> {
  let app: Record<string, unknown>;
  let tail = '';
  try {
    app = await core.apps.get(principal, name);
    const state = core.apps.runState(principal, name);
    if (state.output_size > 0) {
      const start = Math.max(0, state.output_size - DIAGNOSIS_TAIL_BYTES);
      tail = (await core.apps.readOutput(principal, name, start, DIAGNOSIS_TAIL_BYTES)).data.toString('utf8').replace(/^\uFFFD+/, '');
    }
  } catch (error) {
    throw new McpError(ErrorCode.InvalidParams, error instanceof ServiceError ? `${error.message} (status ${error.status})` : String(error));
  }
  const facts = {
    name,
    status: app.status === 1 ? 'enabled' : 'disabled',
    running: app.pid !== undefined,
    pid: app.pid ?? null,
    starts: app.starts ?? null,
    health: app.health === 0 ? 'healthy' : 'unhealthy',
    last_exit_code: app.return_code ?? null,
    last_error: app.last_error ?? null,
    command: app.command ?? null,
  };
  return instructions([
    `Diagnose the application "${name}". Its state now:`,
    JSON.stringify(facts, null, 2),
    tail ? `The last ${Buffer.byteLength(tail)} bytes of its output:\n${tail}` : 'It has no output yet.',
    'Find the cause: search_output for "error", "exception" or "denied"; read_output around the matches; get_app for its definition (command, working_dir, env, behavior).',
    'Then say what fails and why, and propose the smallest fix (a changed command or environment through add_app or start_service, a missing file, a port in use). Do not restart it in a loop.',
  ]);
}

function instructions(lines: string[]): GetPromptResult {
  return { messages: [{ role: 'user', content: { type: 'text', text: lines.join('\n') } }] };
}
