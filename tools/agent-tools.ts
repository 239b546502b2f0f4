import { z } from 'zod';
import type { RunState } from '../src/service/app-service.js';
import { ServiceError } from '../src/service/errors.js';
import { SANDBOX_PROFILES } from '../src/supervisor/app-definition.js';
import { bulkRequestSchema } from '../src/service/app-selection.js';
import { boundOutput } from './output-budget.js';
import { ADDITIVE, DESTRUCTIVE, EXECUTES, IDEMPOTENT_WRITE, READ_ONLY, defineTool, type ToolContext, type ToolDef } from './tool-kit.js';

/**
 * Execution tools for agents: a deadline instead of a client timeout, handles to come back to,
 * bounded output with a cursor, stdin for interactive programs, services that outlive the
 * conversation, and per-user workspaces. All of it is the supervisor's runs and apps.
 */

const DEFAULT_BUDGET = 16_384;
const MAX_BUDGET = 1_048_576;
const MAX_YIELD_MS = 600_000;
const PROGRESS_EVERY_MS = 1000;
const OUTPUT_POLL_MS = 100;

/** A handle stays readable for an hour after its longest possible run, then goes away. */
const runLifecycle = (timeoutSeconds: number) => (timeoutSeconds > 0 ? Math.min(timeoutSeconds + 3600, 259_200) : 86_400);

export const outputUri = (name: string) => `appmesh://apps/${encodeURIComponent(name)}/output`;

const handle = { handle: z.string().describe('The handle returned by run_command (the run\'s application name)') };
const budget = { output_budget_bytes: z.number().int().min(256).max(MAX_BUDGET).default(DEFAULT_BUDGET).describe('Most output bytes to return inline') };
const runResult = {
  status: z.enum(['running', 'exited']),
  handle: z.string(),
  exit_code: z.number().nullable(),
  output: z.string(),
  output_bytes: z.number(),
  truncated: z.boolean(),
  cursor: z.number(),
  output_resource: z.string(),
};

/** Waits for the run (sending progress), then reports it with bounded output. */
async function report(context: ToolContext, name: string, waitMs: number, outputBudget: number): Promise<Record<string, unknown>> {
  const { core, principal, extra } = context;
  const progressToken = extra._meta?.progressToken;
  const deadline = Date.now() + waitMs;
  let state: RunState = core.apps.runState(principal, name);
  let tick = 0;
  while (state.running && Date.now() < deadline && !extra.signal.aborted) {
    state = await core.apps.waitForRun(principal, name, Math.min(PROGRESS_EVERY_MS, deadline - Date.now()), extra.signal);
    if (state.running && progressToken !== undefined) {
      tick++;
      await extra.sendNotification({
        method: 'notifications/progress',
        params: { progressToken, progress: tick, message: `running, ${state.output_size} bytes of output so far` },
      }).catch(() => undefined);
    }
  }
  if (extra.signal.aborted && state.running) {
    // The client cancelled the call: the command goes with it, whole tree included.
    state = await core.apps.stopRun(principal, name);
  }
  const read = async (position: number, length: number) => (await core.apps.readOutput(principal, name, position, length)).data;
  const bounded = await boundOutput(read, state.output_size, outputBudget, outputUri(name));
  return {
    status: state.running ? 'running' : 'exited',
    handle: name,
    exit_code: state.exit_code ?? null,
    ...bounded,
    cursor: state.output_size,
    output_resource: outputUri(name),
  };
}

export const AGENT_TOOLS: ToolDef[] = [
  defineTool({
    name: 'run_command',
    title: 'Run a command with a deadline',
    description:
      'Runs a shell command under supervision and waits up to yield_ms. If it finishes in time you get its exit code and output; ' +
      'otherwise status "running" and a handle: the command keeps running, and read_output / wait_run / write_stdin / kill_run take the handle. ' +
      'Output is bounded (head and tail with a marker); the full output is the resource in output_resource. ' +
      'Without working_dir the command runs in your workspace.',
    permissions: ['app-run-async', 'app-output-view'],
    input: {
      command: z.string().min(1),
      shell: z.boolean().default(true).describe('Run through bash (pipes, &&, variables)'),
      working_dir: z.string().optional(),
      workspace: z.string().default('default').describe('Workspace used when working_dir is not given'),
      env: z.record(z.string(), z.string()).optional(),
      stdin: z.string().optional().describe('Text written to stdin first'),
      interactive: z.boolean().default(false).describe('Keep stdin open for write_stdin'),
      sandbox: z.enum(SANDBOX_PROFILES).optional().describe('isolated: read-only system, only the working directory and home writable, private /tmp and process list, no network unless network is true. Default: your account\'s'),
      network: z.boolean().optional().describe('In the isolated sandbox: keep the network (default off)'),
      yield_ms: z.number().int().min(0).max(MAX_YIELD_MS).default(10_000),
      timeout_seconds: z.number().int().min(0).max(259_200).default(3600).describe('Hard limit: the process tree is killed after it (0 = none)'),
      ...budget,
    },
    output: runResult,
    annotations: EXECUTES,
    // As a task it waits for the end, however long the run (its timeout_seconds still applies).
    task: { args: { yield_ms: Number.POSITIVE_INFINITY } },
    run: async (context, args) => {
      const { core, principal } = context;
      const workingDir = args.working_dir ?? (await core.workspaces.open(principal, args.workspace)).path;
      const body = { command: args.command, shell: args.shell, working_dir: workingDir, env: args.env, ...(args.stdin !== undefined ? { metadata: args.stdin } : {}), sandbox: args.sandbox, sandbox_network: args.network };
      const started = await core.apps.runAsync(principal, body, { timeout: String(args.timeout_seconds), lifecycle: String(runLifecycle(args.timeout_seconds)) }, { interactive: args.interactive });
      context.started?.(started.name);
      return report(context, started.name, args.yield_ms, args.output_budget_bytes);
    },
  }),
  defineTool({
    name: 'read_output',
    title: 'Read output by cursor',
    description: 'Reads a run\'s output from a byte cursor. Pass back the returned cursor to continue; wait_ms waits for new output or the exit.',
    permissions: ['app-output-view'],
    input: { ...handle, cursor: z.number().int().min(0).default(0), max_bytes: z.number().int().min(1).max(MAX_BUDGET).default(DEFAULT_BUDGET), wait_ms: z.number().int().min(0).max(60_000).default(0) },
    output: { output: z.string(), cursor: z.number(), eof: z.boolean(), status: z.enum(['running', 'exited']), exit_code: z.number().nullable(), output_bytes: z.number() },
    annotations: READ_ONLY,
    run: async ({ core, principal, extra }, args) => {
      const deadline = Date.now() + args.wait_ms;
      let state = core.apps.runState(principal, args.handle);
      // The exit ends the wait at once; new output is looked for every 100 ms.
      while (state.running && state.output_size <= args.cursor && Date.now() < deadline && !extra.signal.aborted) {
        state = await core.apps.waitForRun(principal, args.handle, Math.min(OUTPUT_POLL_MS, deadline - Date.now()), extra.signal);
      }
      const chunk = await core.apps.readOutput(principal, args.handle, args.cursor, args.max_bytes);
      return {
        output: chunk.data.toString('utf8'),
        cursor: chunk.nextPosition,
        eof: chunk.nextPosition >= chunk.size,
        status: state.running ? 'running' : 'exited',
        exit_code: state.exit_code ?? null,
        output_bytes: chunk.size,
      };
    },
  }),
  defineTool({
    name: 'search_output',
    title: 'Search output',
    description: 'Lines of a run\'s or app\'s output that contain a text (plain text, not a pattern), with line numbers and byte offsets to read around them with read_output.',
    permissions: ['app-output-view'],
    input: { ...handle, text: z.string().min(1), ignore_case: z.boolean().default(true), max_matches: z.number().int().min(1).max(1000).default(50) },
    output: { matches: z.array(z.object({ line: z.number(), offset: z.number(), text: z.string() })), truncated: z.boolean() },
    annotations: READ_ONLY,
    run: async ({ core, principal }, args) => {
      const matches = await core.apps.searchOutput(principal, args.handle, args.text, { ignoreCase: args.ignore_case, maxMatches: args.max_matches });
      return { matches, truncated: matches.length >= args.max_matches };
    },
  }),
  defineTool({
    name: 'write_stdin',
    title: 'Write to stdin',
    description: 'Writes text to the stdin of an interactive run (run_command with interactive: true); close sends end-of-file.',
    permissions: ['app-run-async'],
    input: { ...handle, data: z.string(), close: z.boolean().default(false) },
    output: { written_bytes: z.number(), closed: z.boolean() },
    annotations: ADDITIVE,
    run: async ({ core, principal }, args) => {
      await core.apps.writeStdin(principal, args.handle, args.data, args.close);
      return { written_bytes: Buffer.byteLength(args.data), closed: args.close };
    },
  }),
  defineTool({
    name: 'wait_run',
    title: 'Wait for a run',
    description: 'Waits up to timeout_ms for a run to finish; returns its state and bounded output (never fails because of the deadline).',
    permissions: ['app-output-view'],
    input: { ...handle, timeout_ms: z.number().int().min(0).max(MAX_YIELD_MS).default(30_000), ...budget },
    output: runResult,
    annotations: READ_ONLY,
    task: { args: { timeout_ms: Number.POSITIVE_INFINITY } },
    run: async (context, args) => report(context, args.handle, args.timeout_ms, args.output_budget_bytes),
  }),
  defineTool({
    name: 'kill_run',
    title: 'Kill a run',
    description: 'Stops a run\'s whole process tree (SIGTERM, then SIGKILL).',
    permissions: ['app-run-async'],
    input: handle,
    output: { status: z.enum(['running', 'exited']), exit_code: z.number().nullable() },
    annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => {
      const state = await core.apps.stopRun(principal, args.handle);
      return { status: state.running ? 'running' : 'exited', exit_code: state.exit_code ?? null };
    },
  }),
  defineTool({
    name: 'start_service',
    title: 'Start a supervised service',
    description: 'Registers a long-running command (a dev server, a watcher...) that is restarted when it exits and outlives the conversation. Read its log with tail_log; stop it with disable_app or delete_app.',
    permissions: ['app-reg'],
    input: {
      name: z.string(),
      command: z.string().min(1),
      shell: z.boolean().default(true),
      working_dir: z.string().optional(),
      workspace: z.string().default('default'),
      env: z.record(z.string(), z.string()).optional(),
      restart: z.enum(['restart', 'keepalive', 'standby']).default('restart').describe('What to do when it exits'),
      health_check_cmd: z.string().optional(),
    },
    output: { name: z.string(), status: z.number(), pid: z.number().nullable() },
    annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => {
      const workingDir = args.working_dir ?? (await core.workspaces.open(principal, args.workspace)).path;
      const app = await core.apps.register(principal, args.name, {
        name: args.name, command: args.command, shell: args.shell, working_dir: workingDir, env: args.env,
        behavior: { exit: args.restart }, health_check_cmd: args.health_check_cmd,
      });
      const state = core.apps.runState(principal, args.name);
      return { name: String(app.name), status: Number(app.status), pid: state.pid ?? null };
    },
  }),
  defineTool({
    name: 'bulk_apps',
    title: 'Enable, disable or delete many apps',
    description: 'One call for many apps: by names, a label selector (team=a,!legacy) or all you may see. Each app is checked like its single call; the result lists what happened to each.',
    // Owners delete their own apps; app-control and app-delete reach the apps of others.
    permissions: [], anyPermission: ['app-control', 'app-delete', 'app-reg'],
    input: bulkRequestSchema.shape,
    output: {
      action: z.string(),
      results: z.array(z.object({ name: z.string(), outcome: z.string(), message: z.string(), status: z.number().optional() })),
      counts: z.record(z.string(), z.number()),
    },
    annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => ({ ...(await core.apps.bulk(principal, args)) }),
  }),
  defineTool({
    name: 'tail_log',
    title: 'Tail a log',
    description: 'The last bytes of an application\'s output (current or last run).',
    permissions: ['app-output-view'],
    input: { name: z.string(), bytes: z.number().int().min(1).max(MAX_BUDGET).default(4096) },
    output: { output: z.string(), output_bytes: z.number(), running: z.boolean(), exit_code: z.number().nullable() },
    annotations: READ_ONLY,
    run: async ({ core, principal }, args) => {
      const state = core.apps.runState(principal, args.name);
      const start = Math.max(0, state.output_size - args.bytes);
      const chunk = await core.apps.readOutput(principal, args.name, start, args.bytes).catch((error: unknown) => {
        if (error instanceof ServiceError && state.output_size === 0) return { data: Buffer.alloc(0), size: 0, nextPosition: 0 };
        throw error;
      });
      return { output: chunk.data.toString('utf8').replace(/^\uFFFD/, ''), output_bytes: chunk.size, running: state.running, exit_code: state.exit_code ?? null };
    },
  }),
  defineTool({
    name: 'workspace_open',
    title: 'Open a workspace',
    description: 'Your scratch folder of that name, created when missing; runs use it as their working directory by default.',
    permissions: ['app-run-async'],
    input: { name: z.string().default('default') },
    output: { name: z.string(), path: z.string() },
    annotations: IDEMPOTENT_WRITE,
    run: async ({ core, principal }, args) => {
      const workspace = await core.workspaces.open(principal, args.name);
      return { name: workspace.name, path: workspace.path };
    },
  }),
  defineTool({
    name: 'workspace_list',
    title: 'List workspaces',
    description: 'Your workspaces with their folders.',
    permissions: ['app-run-async'],
    input: {},
    output: { workspaces: z.array(z.object({ name: z.string(), path: z.string(), created_at: z.number(), last_used_at: z.number() })) },
    annotations: READ_ONLY,
    run: async ({ core, principal }) => ({
      workspaces: core.workspaces.list(principal).map(({ name, path, created_at, last_used_at }) => ({ name, path, created_at, last_used_at })),
    }),
  }),
  defineTool({
    name: 'workspace_remove',
    title: 'Remove a workspace',
    description: 'Deletes a workspace folder and everything in it.',
    permissions: ['app-run-async'],
    input: { name: z.string() },
    output: { removed: z.boolean() },
    annotations: DESTRUCTIVE,
    run: async ({ core, principal }, args) => (await core.workspaces.remove(principal, args.name), { removed: true }),
  }),
];
