import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** The plugin's script as Claude Code runs it: the committed bundle inside the plugin folder. */
export const PLUGIN_SCRIPT = join(import.meta.dirname, '..', '..', 'claude-plugin', 'scripts', 'appmesh-remote.mjs');

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface ScriptRun {
  child: ChildProcess;
  /** Output so far. */
  stdout: () => string;
  done: Promise<ScriptResult>;
}

/** Starts the script in `cwd` with only the given App Mesh settings (nothing from this process's environment). */
export function startScript(args: string[], options: { cwd: string; env: Record<string, string> }): ScriptRun {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...options.env };
  const child = spawn(process.execPath, [PLUGIN_SCRIPT, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<ScriptResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, stdout: () => stdout, done };
}

export const runScript = (args: string[], options: { cwd: string; env: Record<string, string> }): Promise<ScriptResult> => startScript(args, options).done;
