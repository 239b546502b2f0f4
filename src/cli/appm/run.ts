import { readFileSync } from 'node:fs';
import type { AppMeshClient } from '../../client/appmesh-client.js';
import type { RunInput } from '../../client/types.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import type { Context } from './context.js';
import { parseDurationText } from './durations.js';
import { EXIT } from './exit-codes.js';
import { ask } from './prompt.js';

const RUN_SPEC = {
  switches: ['shell', 'session-login'],
  options: ['app', 'cmd', 'description', 'working-dir', 'metadata', 'lifetime', 'timeout'],
  repeatable: ['env'],
  short: { a: 'app', c: 'cmd', d: 'description', w: 'working-dir', m: 'metadata', u: 'shell', G: 'session-login', T: 'lifetime', t: 'timeout', e: 'env' },
  positionals: true,
} as const;

const RUN_OPTIONS = `  -e, --env KEY=VALUE     environment (repeatable)
  -u, --shell             run the command through a shell
  -G, --session-login     run with a login session
  -w, --working-dir DIR   working directory
  -T, --lifetime DURATION the run is killed after this long (seconds or ISO 8601; default 216000)
  -t, --timeout DURATION  how long its output stays readable (default 172800)`;

function envOf(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  return Object.fromEntries(values.map((value) => {
    const at = value.indexOf('=');
    if (at <= 0) throw new UsageError(`--env takes KEY=VALUE, not '${value}'`);
    return [value.slice(0, at), value.slice(at + 1)];
  }));
}

function inputOf(context: Context, command: string | undefined): RunInput {
  const { switches, options, lists } = context.args;
  const metadata = options.get('metadata');
  return {
    name: options.get('app'),
    command,
    description: options.get('description'),
    working_dir: options.get('working-dir'),
    metadata: metadata?.startsWith('@') ? readFileSync(metadata.slice(1), 'utf8') : metadata,
    shell: switches.has('shell') || undefined,
    session_login: switches.has('session-login') || undefined,
    env: envOf(lists.get('env')),
  };
}

function runOptions(context: Context): { lifecycleSeconds: number; timeoutSeconds: number } {
  const lifetime = parseDurationText(context.args.options.get('lifetime') ?? '216000');
  const timeout = parseDurationText(context.args.options.get('timeout') ?? '172800');
  return { lifecycleSeconds: lifetime, timeoutSeconds: Math.max(0, Math.min(timeout < 0 ? lifetime : timeout, lifetime)) };
}

/**
 * Streams a run's output and answers its exit code. Ctrl-C (or SIGTERM) stops the remote process
 * tree before the command exits with 130.
 */
async function stream(client: AppMeshClient, input: RunInput, options: { lifecycleSeconds: number; timeoutSeconds: number }, write: (text: string) => void): Promise<number> {
  const abort = new AbortController();
  let interrupted = false;
  const stop = () => {
    interrupted = true;
    abort.abort();
  };
  process.once('SIGINT', stop).once('SIGTERM', stop);
  try {
    const code = await client.runs.run(input, write, { ...options, signal: abort.signal });
    if (interrupted) return EXIT.interrupted;
    return code ?? EXIT.failed;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}

const run: Command = {
  spec: RUN_SPEC,
  help: `Usage: appm run -c COMMAND [options]   |   appm run -a APP [options]   |   appm run [options] -- COMMAND ARGS…

Runs a command (or a copy of an app with -a), streams its output and exits with its exit code.
Ctrl-C stops the remote process tree.

  -c, --cmd COMMAND       the command
  -a, --app NAME          run a copy of this app (its command, env and metadata)
  -m, --metadata TEXT     given to the process on stdin (@file reads a file)
  -d, --description TEXT  description of the run
${RUN_OPTIONS}`,
  async run(context) {
    const command = context.args.options.get('cmd') ?? (context.args.positionals.length ? context.args.positionals.join(' ') : undefined);
    if (!command && !context.args.options.get('app')) throw new UsageError('run needs -c COMMAND or -a APP');
    const client = await context.client();
    return stream(client, inputOf(context, command), runOptions(context), (text) => process.stdout.write(text));
  },
};

const exec: Command = {
  spec: RUN_SPEC,
  help: `Usage: appm exec [options] COMMAND ARGS…

Runs the command given as arguments, streams its output and exits with its exit code.
${RUN_OPTIONS}`,
  async run(context) {
    if (!context.args.positionals.length) throw new UsageError('exec needs a command');
    const client = await context.client();
    return stream(client, inputOf(context, context.args.positionals.join(' ')), runOptions(context), (text) => process.stdout.write(text));
  },
};

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;
// Ends each line's output: the working directory the line left, between separators no command prints.
const MARK = '\x1e';

const shell: Command = {
  spec: RUN_SPEC,
  help: `Usage: appm shell [options] [COMMAND…]

An interactive remote shell: each line runs on the host, in the working directory the previous
line left (cd sticks), with its output streamed. 'exit' or Ctrl-D ends it. A first command may
be given as arguments.
${RUN_OPTIONS}`,
  async run(context) {
    const client = await context.client();
    const options = runOptions(context);
    let cwd = context.args.options.get('working-dir') ?? '';
    let last = EXIT.ok as number;
    const pending = context.args.positionals.length ? [context.args.positionals.join(' ')] : [];
    for (;;) {
      const line = pending.shift() ?? (await ask(`${cwd || '~'}$ `).catch(() => undefined));
      if (line === undefined || /^\s*exit\s*$/.test(line)) return last;
      if (!line.trim()) continue;
      const script = `${cwd ? `cd ${quote(cwd)} 2>/dev/null; ` : ''}${line}\n__appm_rc=$?; printf '${MARK}%s${MARK}' "$PWD"; exit $__appm_rc`;
      let held = '';
      const code = await stream(client, { ...inputOf(context, script), name: undefined, working_dir: undefined, shell: true }, options, (text) => {
        held += text;
        const mark = held.indexOf(MARK);
        if (mark < 0) {
          process.stdout.write(held);
          held = '';
        } else {
          process.stdout.write(held.slice(0, mark));
          held = held.slice(mark);
        }
      });
      const where = /^\x1e([^\x1e]*)\x1e/.exec(held);
      if (where) cwd = where[1];
      if (code === EXIT.interrupted) process.stdout.write('\n');
      last = code;
    }
  },
};

export const commands: Record<string, Command> = { run, exec, shell };
