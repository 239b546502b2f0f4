import type { CommandSpec } from './args.js';
import type { Context } from './context.js';

/** One `appm` command: how it is called, its help, and what it does (answers the exit code). */
export interface Command {
  spec: CommandSpec;
  /** Usage and options, shown by `appm <command> --help`. */
  help: string;
  run(context: Context): Promise<number>;
}

/** The commands, their one-line summaries, and the module of each group (loaded only when used). */
export const COMMANDS: readonly { name: string; aliases?: readonly string[]; summary: string; group: string }[] = [
  { name: 'logon', aliases: ['login'], summary: 'log on and store a token for the host', group: 'session' },
  { name: 'logoff', aliases: ['logout'], summary: 'revoke the stored token', group: 'session' },
  { name: 'loginfo', summary: 'show who is logged on where', group: 'session' },
  { name: 'ls', aliases: ['view', 'list'], summary: 'list apps (table, json, yaml); -a NAME: one app; -o: its output; -f: follow', group: 'apps' },
  { name: 'add', aliases: ['reg'], summary: 'register an app (or replace it)', group: 'apps' },
  { name: 'rm', aliases: ['remove', 'unreg'], summary: 'remove apps', group: 'apps' },
  { name: 'enable', summary: 'enable apps', group: 'apps' },
  { name: 'disable', summary: 'disable apps', group: 'apps' },
  { name: 'restart', summary: 'disable then enable apps', group: 'apps' },
  { name: 'run', summary: 'run a command or an app, stream its output, exit with its code', group: 'run' },
  { name: 'exec', summary: 'run the command given as arguments (like run -c)', group: 'run' },
  { name: 'shell', summary: 'interactive remote shell that keeps its working directory', group: 'run' },
  { name: 'get', summary: 'download a remote file (keeps its mode)', group: 'files' },
  { name: 'put', summary: 'upload a local file (keeps its mode)', group: 'files' },
  { name: 'label', summary: 'list, add or remove host labels', group: 'system' },
  { name: 'log', summary: "set the daemon's log level", group: 'system' },
  { name: 'config', summary: 'view the configuration, or change keys with --set', group: 'system' },
  { name: 'resource', summary: 'show host resources', group: 'system' },
  { name: 'metric', summary: 'show Prometheus metrics', group: 'system' },
  { name: 'passwd', summary: 'change a password', group: 'users' },
  { name: 'lock', summary: 'lock or unlock a user', group: 'users' },
  { name: 'user', summary: 'view, list, add or remove users', group: 'users' },
  { name: 'mfa', summary: 'turn two-factor authentication on or off', group: 'users' },
  { name: 'appmgpwd', summary: 'hash passwords for the security file (local)', group: 'local' },
  { name: 'appmginit', summary: "set admin's password in a daemon's home (local, root)", group: 'local' },
  { name: 'completion', summary: 'print the bash or zsh completion script', group: 'completion' },
];

/** Used by the completion scripts; not listed in the help. */
const HIDDEN = [{ name: '__complete', summary: '', group: 'completion' }] as const;

export function findCommand(name: string): (typeof COMMANDS)[number] | undefined {
  return COMMANDS.find((command) => command.name === name || command.aliases?.includes(name)) ?? HIDDEN.find((command) => command.name === name);
}
