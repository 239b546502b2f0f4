import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { numberOption, parseArguments } from './arguments.js';
import { connect, explain, tlsRelaunchEnv } from './connect.js';
import { configProblems, ConfigError, readConfig, type RemoteConfig } from './remote-config.js';
import { checkPullPath, INTERRUPTED_EXIT, pullFiles, runInWorkspace, runScript, type RunEnd } from './remote-run.js';
import { openWorkspace, readRemoteText, remoteShell, shellQuote, type Workspace } from './remote-workspace.js';
import { removeState, writeState } from './sync-state.js';
import { SYNC_MARKER } from './never-synced.js';
import { syncWorkspace, type SyncReport } from './workspace-sync.js';

const USAGE = `appmesh-remote: build, test, run and deploy this project on an App Mesh node

  sync [--force]                              send what changed since the last sync
  exec "<cmd>" [--timeout 600] [--working-dir D] [--pull PATH]...
                                              run in the workspace; exits with the remote exit code
  sync-exec "<cmd>" [same options as exec]    sync, then exec
  run-script <file> [--timeout 300] [-- args] upload a script, run it in the workspace, remove it
  deploy <name> "<cmd>"                       sync, then start a service kept alive on the node
  output <app> [--maxsize 10240] [--timeout 2]  an app's output (and exit code once ended)
  cleanup [<app>...] [--workspace]            remove services; no argument: this project's services and workspace
  status                                      configuration, node, workspace
  check                                       what the configuration lacks (no network)
  mcp-headers                                 the MCP server's Authorization header, as JSON

Environment: APPMESH_URL (or APPMESH_HOST), APPMESH_TOKEN or APPMESH_USER + APPMESH_PASSWORD,
APPMESH_WORKSPACE, APPMESH_SSL_VERIFY (true, false or a CA file), APPMESH_SYNC_EXCLUDE,
APPMESH_PROJECT_DIR (the local folder synced; default the git top-level folder, else the current one).
Exit codes: the remote command's; 1 failure; 2 configuration; 130 interrupted.
`;

const log = (line: string): void => void process.stderr.write(`${line}\n`);
const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The project: the nearest folder above the current one that holds `.git`, else the current one. */
export function findProjectRoot(start: string): string {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, '.git'))) return dir;
    if (dirname(dir) === dir) return resolve(start);
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const env = process.env;
  const projectRoot = env.APPMESH_PROJECT_DIR ? resolve(env.APPMESH_PROJECT_DIR) : findProjectRoot(process.cwd());
  const config = readConfig(env, projectRoot);
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'check') return check(config);

  const relaunch = tlsRelaunchEnv(config, env);
  if (relaunch) return spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: relaunch }).status ?? 1;
  if (command === 'mcp-headers') return mcpHeaders(config);

  const handlers: Record<string, (workspace: () => Promise<Workspace>) => Promise<number>> = {
    sync: async (open) => {
      const parsed = parseArguments(args, [], ['force']);
      printSync(await syncWorkspace(await open(), { force: parsed.flags.has('force') }));
      return 0;
    },
    exec: (open) => execCommand(open, args, false),
    'sync-exec': (open) => execCommand(open, args, true),
    'run-script': async (open) => {
      const parsed = parseArguments(args, ['timeout'], []);
      const [file] = parsed.positional;
      if (!file || parsed.positional.length > 1) throw new ConfigError('run-script takes one local file (its arguments after --)');
      if (!existsSync(file)) throw new ConfigError(`No such file: ${file}`);
      return finishRun(await runScript(await open(), file, parsed.rest, { timeoutSeconds: numberOption(parsed, 'timeout', 300) }));
    },
    deploy: (open) => deploy(open, args),
    output: async (open) => {
      const parsed = parseArguments(args, ['maxsize', 'timeout'], []);
      const [app] = parsed.positional;
      if (!app) throw new ConfigError('output takes the name of an app');
      const { client } = await open();
      const chunk = await client.apps.output(app, { maxBytes: numberOption(parsed, 'maxsize', 10_240), timeoutSeconds: numberOption(parsed, 'timeout', 2) });
      process.stdout.write(chunk.text);
      if (chunk.text && !chunk.text.endsWith('\n')) say('');
      if (chunk.exitCode !== undefined) say(`[exit] ${chunk.exitCode}`);
      return 0;
    },
    cleanup: (open) => cleanup(open, args),
    status: (open) => status(open, config),
  };
  const handler = handlers[command];
  if (!handler) throw new ConfigError(`Unknown command ${command}\n\n${USAGE}`);
  let workspace: Workspace | undefined;
  const open = async (): Promise<Workspace> => {
    if (workspace) return workspace;
    const { client, user } = await connect(config);
    workspace = await openWorkspace(client, config, user, projectRoot, env);
    return workspace;
  };
  try {
    return await handler(open);
  } catch (error) {
    throw explain(error, config);
  }
}

function check(config: RemoteConfig): number {
  const problems = configProblems(config);
  const login = config.token ? 'a token (APPMESH_TOKEN)' : config.password ? `user ${config.user} with APPMESH_PASSWORD` : 'no credentials';
  say(`App Mesh remote sandbox: node ${config.url}, ${login}, workspace ${config.workspace}.`);
  for (const problem of problems) say(`- ${problem}`);
  if (problems.length > 0) say('Set these in the environment Claude Code starts from (or in .claude/settings.json under "env"); /appmesh:status checks the connection.');
  return 0;
}

/**
 * The MCP server's `headersHelper`: the token to send, from APPMESH_TOKEN or a login with
 * APPMESH_USER/APPMESH_PASSWORD. Without either it sends no header, and Claude Code signs in
 * through the browser (OAuth) instead; a configured header would override that sign-in.
 */
async function mcpHeaders(config: RemoteConfig): Promise<number> {
  let token = config.token;
  if (!token && config.password) {
    try {
      token = (await connect(config)).client.token;
    } catch (error) {
      log(`appmesh-remote: ${(error as Error).message} (the MCP server falls back to the browser login)`);
    }
  }
  say(JSON.stringify(token ? { Authorization: `Bearer ${token}` } : {}));
  return 0;
}

async function execCommand(open: () => Promise<Workspace>, args: string[], syncFirst: boolean): Promise<number> {
  const parsed = parseArguments(args, ['timeout', 'working-dir', 'pull'], []);
  const command = [...parsed.positional, ...parsed.rest].join(' ').trim();
  if (!command) throw new ConfigError(`${syncFirst ? 'sync-exec' : 'exec'} takes the command to run, quoted`);
  const pulls = (parsed.options.get('pull') ?? []).map(checkPullPath);
  const timeoutSeconds = numberOption(parsed, 'timeout', 600);
  const workspace = await open();
  if (syncFirst) printSync(await syncWorkspace(workspace));
  else if (!workspace.state.syncId) log(`[note] this project was not synced to ${workspace.remoteRoot} from here yet: /appmesh:sync (or sync-exec) sends it`);
  const end = await runInWorkspace(workspace, command, { timeoutSeconds, workingDir: parsed.options.get('working-dir')?.at(-1) });
  if ('interrupted' in end) return finishRun(end);
  const failed = pulls.length > 0 ? await pullFiles(workspace, pulls, say) : [];
  const code = finishRun(end);
  return code === 0 && failed.length > 0 ? 1 : code;
}

function finishRun(end: RunEnd): number {
  if ('interrupted' in end) {
    say('\n[interrupted] the remote process tree was killed');
    return INTERRUPTED_EXIT;
  }
  say(`[exit] ${end.exitCode}`);
  return end.exitCode;
}

function printSync(report: SyncReport): void {
  const parts = [`${report.sent.length} file(s) sent`, `${report.deleted.length} deleted`, `${report.unchanged} unchanged`];
  say(`[sync] ${report.remoteRoot}: ${parts.join(', ')}${report.full ? ' (full comparison)' : ''}${report.bytes ? `, ${report.bytes} bytes` : ''}`);
  for (const path of report.sent.slice(0, 20)) say(`[sync] + ${path}`);
  if (report.sent.length > 20) say(`[sync] + ... ${report.sent.length - 20} more`);
  for (const path of report.deleted.slice(0, 20)) say(`[sync] - ${path}`);
  if (report.secrets.length > 0) say(`[sync] never sent (secrets): ${report.secrets.join(', ')}`);
  if (report.links > 0) say(`[sync] ${report.links} symbolic link(s) not followed`);
  if (report.warning) say(`[sync] warning: ${report.warning}`);
}

async function deploy(open: () => Promise<Workspace>, args: string[]): Promise<number> {
  const parsed = parseArguments(args, [], []);
  const [name, ...words] = [...parsed.positional, ...parsed.rest];
  const command = words.join(' ').trim();
  if (!name || !command) throw new ConfigError('deploy takes a name and the command to run, quoted');
  const workspace = await open();
  printSync(await syncWorkspace(workspace));
  const { client } = workspace;
  await client.apps.add(name, { command, shell: true, working_dir: workspace.remoteRoot, behavior: { exit: 'keepalive' }, status: 1 });
  if (!workspace.state.apps.includes(name)) {
    workspace.state = { ...workspace.state, apps: [...workspace.state.apps, name] };
    await writeState(workspace.stateFile, workspace.state);
  }
  const first = await client.apps.output(name, { timeoutSeconds: 2 }).catch(() => undefined);
  const view = await client.apps.get(name);
  say(`[deploy] ${name}: ${view.pid ? `running, pid ${view.pid}` : 'not running yet'} (kept alive; /appmesh:cleanup ${name} removes it)`);
  if (first?.text) process.stdout.write(first.text.endsWith('\n') ? first.text : `${first.text}\n`);
  return 0;
}

async function cleanup(open: () => Promise<Workspace>, args: string[]): Promise<number> {
  const parsed = parseArguments(args, [], ['workspace']);
  const workspace = await open();
  const all = parsed.positional.length === 0;
  const apps = all ? workspace.state.apps : parsed.positional;
  const failed: string[] = [];
  for (const app of apps) {
    try {
      await workspace.client.apps.disable(app).catch(() => undefined);
      await workspace.client.apps.remove(app);
      say(`[cleanup] removed ${app}`);
    } catch (error) {
      const message = explain(error, workspace.config).message;
      // Already gone is what cleanup wants.
      if (/not.?found|no such|does not exist/i.test(message)) say(`[cleanup] ${app} was not there`);
      else {
        failed.push(app);
        say(`[cleanup] could not remove ${app}: ${message}`);
      }
    }
  }
  workspace.state = { ...workspace.state, apps: workspace.state.apps.filter((app) => !apps.includes(app) || failed.includes(app)) };
  if (all || parsed.flags.has('workspace')) {
    try {
      await remoteShell(workspace, `rm -rf -- ${shellQuote(workspace.remoteRoot)}`, 'Removing the workspace', 120);
      await removeState(workspace.stateFile);
      say(`[cleanup] removed the workspace ${workspace.remoteRoot}`);
      if (workspace.state.apps.length > 0) await writeState(workspace.stateFile, { ...workspace.state, syncId: '', files: {} });
    } catch (error) {
      failed.push(workspace.remoteRoot);
      say(`[cleanup] could not remove the workspace: ${(error as Error).message}`);
      await writeState(workspace.stateFile, workspace.state);
    }
  } else {
    await writeState(workspace.stateFile, workspace.state);
  }
  return failed.length > 0 ? 1 : 0;
}

async function status(open: () => Promise<Workspace>, config: RemoteConfig): Promise<number> {
  for (const problem of configProblems(config)) say(`- ${problem}`);
  const workspace = await open();
  const marker = workspace.state.syncId ? (await readRemoteText(workspace, `${workspace.remoteRoot}/${SYNC_MARKER}`).catch(() => undefined))?.trim() : undefined;
  say(`node:      ${workspace.client.url}`);
  say(`user:      ${workspace.user} (home ${workspace.remoteHome})`);
  say(`project:   ${workspace.projectRoot}`);
  say(`workspace: ${workspace.remoteRoot}`);
  const files = Object.keys(workspace.state.files).length;
  say(`sync:      ${workspace.state.syncId ? `${files} file(s), last at ${new Date((workspace.state.syncedAt ?? 0) * 1000).toISOString()}${marker === workspace.state.syncId ? '' : ' (the node no longer matches: the next sync sends everything)'}` : 'never synced from here'}`);
  if (workspace.state.apps.length > 0) say(`services:  ${workspace.state.apps.join(', ')}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const exitCode = error instanceof ConfigError ? error.exitCode : 1;
    log(`appmesh-remote: ${(error as Error).message ?? String(error)}`);
    process.exit(exitCode);
  },
);
