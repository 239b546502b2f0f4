#!/usr/bin/env node
import { AppMeshError } from '../../client/errors.js';
import { buildVersion } from '../../observability/build-info.js';
import { parseCommand, UsageError } from './args.js';
import { COMMANDS, findCommand, type Command } from './command.js';
import { GLOBAL_HELP, GLOBAL_SPEC, NotLoggedOn } from './globals.js';
import { EXIT, EXIT_CODES_HELP, exitCodeOf } from './exit-codes.js';

/**
 * `appm`: the App Mesh command line. Only what a command needs is loaded: its group's module and
 * the typed client (no fastify, zod or MCP), so it starts about as fast as node itself.
 */
const GROUPS: Record<string, () => Promise<{ commands: Record<string, Command> }>> = {
  session: () => import('./session.js'),
  apps: () => import('./apps.js'),
  run: () => import('./run.js'),
  files: () => import('./files.js'),
  system: () => import('./system.js'),
  users: () => import('./users.js'),
  local: () => import('./local.js'),
  completion: () => import('./completion.js'),
};

const USAGE = `appm: the App Mesh command line

Usage: appm [global options] <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(11)}${command.summary}${command.aliases ? ` (also: ${command.aliases.join(', ')})` : ''}`).join('\n')}

${GLOBAL_HELP}
  -V, --version           print the version

'appm <command> --help' shows a command's options.
The token of a logon is kept in $XDG_CONFIG_HOME/appmesh/session.json (default ~/.config/appmesh/),
mode 0600; never the password.

${EXIT_CODES_HELP}
`;

const GLOBAL_VALUE_FLAGS = new Set(['-H', '--host-url', '-F', '--forward-to', '-U', '--user', '-X', '--password', '--totp']);

/** Splits `appm [global options] <command> [options]` into the command and the rest. */
function splitCommand(argv: readonly string[]): { name?: string; rest: string[] } {
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (GLOBAL_VALUE_FLAGS.has(arg)) {
      index++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    return { name: arg, rest: [...argv.slice(0, index), ...argv.slice(index + 1)] };
  }
  return { rest: [...argv] };
}

async function main(argv: readonly string[]): Promise<number> {
  const { name, rest } = splitCommand(argv);
  if (name === undefined || name === 'help') {
    if (rest.includes('-V') || rest.includes('--version')) {
      process.stdout.write(`appm ${buildVersion}\n`);
      return EXIT.ok;
    }
    const topic = name === 'help' ? rest.find((arg) => !arg.startsWith('-')) : undefined;
    if (!topic) {
      const asked = name === 'help' || rest.includes('-h') || rest.includes('--help');
      (asked ? process.stdout : process.stderr).write(USAGE);
      return asked ? EXIT.ok : EXIT.usage;
    }
    return main([topic, '--help']);
  }
  const entry = findCommand(name);
  if (!entry) throw new UsageError(`unknown command '${name}' (appm --help lists them)`);
  const command = (await GROUPS[entry.group]()).commands[entry.name];
  const spec = command.spec;
  const args = parseCommand(rest, {
    switches: [...GLOBAL_SPEC.switches, ...(spec.switches ?? [])],
    options: [...GLOBAL_SPEC.options, ...(spec.options ?? [])],
    repeatable: spec.repeatable,
    short: { ...GLOBAL_SPEC.short, ...spec.short },
    positionals: spec.positionals,
  });
  if (args.switches.has('help')) {
    process.stdout.write(`${command.help.trimEnd()}\n\n${GLOBAL_HELP}\n`);
    return EXIT.ok;
  }
  // Loaded only now: --version and --help need none of the client.
  const { Context } = await import('./context.js');
  const context = new Context(args);
  hostSource = context.hostSource;
  try {
    return await command.run(context);
  } finally {
    await context.close();
  }
}

/** How the host of this command was chosen, for an unreachable one. */
let hostSource = 'the default';

function explain(error: AppMeshError, verbose: boolean): string {
  const lines = [`appm: ${error.message}`];
  if (error.kind === 'unreachable') lines.push(`  the host comes from ${hostSource} (set it with -H or APPMESH_URL); is the daemon running there?`);
  if (error.kind === 'expired') lines.push(`  the token expired: run 'appm logon' again`);
  if (error.kind === 'unauthorized' && /revoked|Invalid token/i.test(error.message)) lines.push(`  the token is no longer valid: run 'appm logon' again`);
  if (error.kind === 'forbidden') lines.push(error.permission ? `  permission denied: ask an administrator for '${error.permission}'` : '  permission denied');
  if (error.kind === 'rate-limited' && error.retryAfterSeconds) lines.push(`  retry in ${error.retryAfterSeconds} s`);
  if (verbose && error.cause) lines.push(`  cause: ${String((error.cause as Error)?.stack ?? error.cause)}`);
  return `${lines.join('\n')}\n`;
}

// Output to a closed pipe (`appm ls | head -1`) ends the command quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(EXIT.ok);
});

const argv = process.argv.slice(2);
let code: number;
try {
  code = await main(argv);
} catch (error) {
  const verbose = argv.includes('-v') || argv.includes('--verbose');
  if (error instanceof UsageError) {
    process.stderr.write(`appm: ${error.message}\n`);
    code = EXIT.usage;
  } else if (error instanceof AppMeshError) {
    process.stderr.write(explain(error, verbose));
    code = exitCodeOf(error);
  } else if (error instanceof NotLoggedOn) {
    process.stderr.write(`appm: ${error.message}\n`);
    code = EXIT.logOn;
  } else {
    process.stderr.write(`appm: ${verbose ? ((error as Error)?.stack ?? String(error)) : ((error as Error)?.message ?? String(error))}\n`);
    code = EXIT.failed;
  }
}
// Once everything written has gone out: idle keep-alive connections do not hold the exit back.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
