import { readFileSync } from 'node:fs';
import type { AppMeshClient } from '../../client/appmesh-client.js';
import type { AppSelection, BulkResult } from '../../client/apps.js';
import { AppMeshError } from '../../client/errors.js';
import type { AppInput, AppView } from '../../client/types.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import type { Context } from './context.js';
import { EXIT } from './exit-codes.js';
import { bytes, duration, oneLine, outputFormat, render, table } from './format.js';
import { confirm, readLine } from './prompt.js';

const STATUS = ['disabled', 'enabled', 'N/A'];

/** One row of `appm ls`. */
function row(app: AppView, index: number, now: number, long: boolean): string[] {
  const running = app.pid !== undefined;
  return [
    String(index + 1),
    app.name,
    app.owner ?? '-',
    STATUS[app.status] ?? String(app.status),
    running ? (app.health === 0 ? 'OK' : 'FAIL') : '-',
    running ? String(app.pid) : '-',
    running ? (app.pid_user ?? '-') : '-',
    running ? bytes(app.memory) : '-',
    running && app.cpu !== undefined ? String(app.cpu) : '-',
    app.return_code === undefined ? '-' : String(app.return_code),
    duration(now - (app.register_time ?? now)),
    running && app.last_start_time ? duration(now - app.last_start_time) : '-',
    String(app.starts ?? 0),
    long ? JSON.stringify(app.command ?? '') : oneLine(app.command),
  ];
}

const HEADER = ['ID', 'NAME', 'OWNER', 'STATUS', 'HEALTH', 'PID', 'USER', 'MEMORY', '%CPU', 'RETURN', 'AGE', 'DURATION', 'STARTS', 'COMMAND'];

async function showOutput(client: AppMeshClient, name: string, follow: boolean, index: number | undefined, signal: AbortSignal): Promise<number> {
  if (!follow) {
    let position = 0;
    for (;;) {
      const chunk = await client.apps.output(name, { position, index });
      process.stdout.write(chunk.text);
      if (!chunk.text || chunk.position === position) return EXIT.ok;
      position = chunk.position;
    }
  }
  try {
    for await (const text of client.apps.tail(name, { signal })) process.stdout.write(text);
  } catch (error) {
    if (signal.aborted) return EXIT.ok;
    // A daemon without event streams (App Mesh itself): poll instead.
    if (!(error instanceof AppMeshError) || (error.status !== 404 && error.status !== 405) || error.message === 'No such application') throw error;
    try {
      for await (const chunk of client.apps.follow(name, { untilExit: false, signal })) process.stdout.write(chunk.text);
    } catch (polling) {
      if (!signal.aborted) throw polling;
    }
  }
  return EXIT.ok;
}

const ls: Command = {
  spec: {
    switches: ['long', 'show-output', 'pstree', 'follow', 'json', 'all'],
    options: ['app', 'log-index', 'format'],
    short: { l: 'long', o: 'show-output', P: 'pstree', f: 'follow', j: 'json', a: 'app', i: 'log-index', A: 'all' },
  },
  help: `Usage: appm ls [-a NAME [-o [-f] [-i N] | -P]] [-l] [-A] [--format table|json|yaml] [-j]

Lists apps as an aligned table, or one app in detail with -a.

  -a, --app NAME        one app (its whole runtime view, YAML unless --format json)
  -o, --show-output     the app's output (with -a)
  -f, --follow          with -o: follow the output as it is written; without -a: the list
                        again every 2 s (Ctrl-C stops)
  -i, --log-index N     with -o: an earlier output file (0: the current one)
  -P, --pstree          with -a: the app's process tree
  -l, --long            whole commands in the table
  -A, --all             finished runs too
      --format FORMAT   table (default), json or yaml
  -j, --json            same as --format json`,
  async run(context) {
    const { switches, options } = context.args;
    const client = await context.client();
    const name = options.get('app');
    const format = switches.has('json') ? 'json' : outputFormat(options.get('format'), name ? 'yaml' : 'table');
    if (name && switches.has('show-output')) {
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      const index = options.get('log-index');
      return showOutput(client, name, switches.has('follow'), index === undefined ? undefined : Number(index), abort.signal);
    }
    if (name) {
      const app = await client.apps.get(name);
      if (switches.has('pstree')) {
        process.stdout.write(`${app.pstree ?? '(not running)'}\n`);
        return EXIT.ok;
      }
      process.stdout.write(await render(app, format === 'table' ? 'yaml' : format));
      return EXIT.ok;
    }
    const show = async () => {
      const apps = await client.apps.list({ includeFinishedRuns: switches.has('all') });
      if (format !== 'table') return render(apps, format);
      const now = Math.floor(Date.now() / 1000);
      return table(HEADER, apps.map((app, index) => row(app, index, now, switches.has('long'))));
    };
    if (!switches.has('follow')) {
      process.stdout.write(await show());
      return EXIT.ok;
    }
    // -f without -a: the list again every 2 s (redrawn in place on a terminal) until Ctrl-C.
    let stopped = false;
    let wake: (() => void) | undefined;
    process.once('SIGINT', () => {
      stopped = true;
      wake?.();
    });
    while (!stopped) {
      const text = await show();
      process.stdout.write(process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 2000);
      });
    }
    return EXIT.ok;
  },
};

/** `K=V` pairs of repeated options. */
function pairs(values: readonly string[] | undefined, option: string): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const result: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at <= 0) throw new UsageError(`${option} takes KEY=VALUE, not '${value}'`);
    result[value.slice(0, at)] = value.slice(at + 1);
  }
  return result;
}

/** `text`, JSON text, or `@file`. */
function metadataOf(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  const text = value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

const integer = (value: string | undefined, option: string): number | undefined => {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new UsageError(`${option} takes a whole number, not '${value}'`);
  return Number(value);
};

const bool = (value: string | undefined, option: string): boolean | undefined => {
  if (value === undefined) return undefined;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new UsageError(`${option} takes true or false, not '${value}'`);
};

/** The definition `add` sends, from its options (and a YAML or JSON document with -D). */
async function definitionOf(context: Context): Promise<{ name: string; definition: AppInput }> {
  const { switches, options, lists } = context.args;
  let base: Record<string, unknown> = {};
  const source = options.get('stdin');
  if (source !== undefined) {
    const text = source === 'std' || source === '-' ? await readAll() : readFileSync(source, 'utf8');
    const { parse } = await import('yaml');
    base = (parse(text) as Record<string, unknown> | null) ?? {};
  }
  const exit = options.get('exit');
  const controls = lists.get('control');
  const behavior = exit || controls?.length
    ? {
        exit: exit ?? 'standby',
        control: controls?.length ? Object.fromEntries(controls.map((entry) => {
          const [code, action] = entry.split(':');
          if (!action) throw new UsageError(`--control takes CODE:ACTION, not '${entry}'`);
          return [code, action];
        })) : undefined,
      }
    : undefined;
  const memory = integer(options.get('memory-limit'), '--memory-limit');
  const virtual = integer(options.get('virtual-memory'), '--virtual-memory');
  const cpu = integer(options.get('cpu-shares'), '--cpu-shares');
  const daily = options.get('daily-begin') || options.get('daily-end') ? { daily_start: options.get('daily-begin') ?? '', daily_end: options.get('daily-end') ?? '' } : undefined;
  const status = bool(options.get('status'), '--status');
  const fields: Record<string, unknown> = {
    command: options.get('cmd'),
    description: options.get('description'),
    working_dir: options.get('working-dir'),
    status: status === undefined ? undefined : status ? 1 : 0,
    shell: switches.has('shell') || undefined,
    session_login: switches.has('session-login') || undefined,
    health_check_cmd: options.get('health-check'),
    docker_image: options.get('docker-image'),
    start_time: options.get('begin-time'),
    end_time: options.get('end-time'),
    daily_limitation: daily,
    start_interval_seconds: options.get('interval'),
    cron: switches.has('cron') || undefined,
    resource_limit: memory ?? virtual ?? cpu ? { memory_mb: memory, memory_virt_mb: virtual, cpu_shares: cpu } : undefined,
    stdout_cache_num: integer(options.get('log-cache-size'), '--log-cache-size'),
    permission: integer(options.get('permission'), '--permission'),
    metadata: metadataOf(options.get('metadata')),
    env: pairs(lists.get('env'), '--env'),
    sec_env: pairs(lists.get('security-env'), '--security-env'),
    labels: pairs(lists.get('label'), '--label'),
    retention: options.get('retention'),
    sandbox: options.get('sandbox'),
    behavior,
  };
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) base[key] = value;
  const name = options.get('app') ?? (typeof base.name === 'string' ? base.name : undefined);
  if (!name) throw new UsageError('add needs -a NAME (or a name in the -D document)');
  return { name, definition: base as AppInput };
}

async function readAll(): Promise<string> {
  const lines: string[] = [];
  for (let line = await readLine(); line !== undefined; line = await readLine()) lines.push(line);
  return lines.join('\n');
}

async function exists(client: AppMeshClient, name: string): Promise<boolean> {
  try {
    await client.apps.get(name);
    return true;
  } catch (error) {
    if (error instanceof AppMeshError && error.kind === 'not-found') return false;
    throw error;
  }
}

const add: Command = {
  spec: {
    switches: ['shell', 'session-login', 'cron', 'force', 'json'],
    options: [
      'app', 'cmd', 'description', 'working-dir', 'status', 'health-check', 'docker-image', 'begin-time', 'end-time', 'daily-begin', 'daily-end',
      'interval', 'memory-limit', 'virtual-memory', 'cpu-shares', 'log-cache-size', 'permission', 'metadata', 'exit', 'stdin', 'retention', 'sandbox', 'format',
    ],
    repeatable: ['env', 'security-env', 'control', 'label'],
    short: {
      a: 'app', c: 'cmd', d: 'description', w: 'working-dir', s: 'status', u: 'shell', G: 'session-login', K: 'health-check', I: 'docker-image',
      b: 'begin-time', x: 'end-time', S: 'daily-begin', E: 'daily-end', i: 'interval', Y: 'cron', M: 'memory-limit', V: 'virtual-memory',
      C: 'cpu-shares', N: 'log-cache-size', p: 'permission', m: 'metadata', e: 'env', z: 'security-env', Q: 'exit', T: 'control', D: 'stdin', f: 'force', j: 'json',
    },
  },
  help: `Usage: appm add -a NAME -c COMMAND [options]

Registers an app, or replaces it (asks first unless -f).

  -a, --app NAME              app name (1-128 letters, digits, _ or -)
  -c, --cmd COMMAND           command with arguments
  -d, --description TEXT      description
  -w, --working-dir DIR       working directory
  -s, --status true|false     enabled at once (default true)
  -u, --shell                 run the command through a shell
  -G, --session-login         run with a login session
  -K, --health-check COMMAND  health check command (exit 0: healthy)
  -I, --docker-image IMAGE    docker image
  -b, --begin-time TIME       start time (ISO 8601)
  -x, --end-time TIME         end time (ISO 8601)
  -S, --daily-begin TIME      daily window start (09:00:00+08)
  -E, --daily-end TIME        daily window end (20:00:00+08)
  -i, --interval DURATION     start interval (seconds, ISO 8601 duration, or cron with -Y)
  -Y, --cron                  the interval is a cron expression
  -M, --memory-limit MB       memory limit
  -V, --virtual-memory MB     memory + swap limit
  -C, --cpu-shares N          CPU weight
  -N, --log-cache-size N      number of output files kept
  -p, --permission NN         access of the group (tens) and others (units): 1 none, 2 read, 3 write
  -m, --metadata TEXT         metadata (text, JSON, or @file); given to the process on stdin
  -e, --env KEY=VALUE         environment (repeatable)
  -z, --security-env K=V      environment kept encrypted (repeatable)
      --label KEY=VALUE       a label (repeatable), for selecting apps: appm disable -l KEY=VALUE
  -Q, --exit ACTION           on exit: standby, restart, keepalive, remove
  -T, --control CODE:ACTION   on this exit code (repeatable)
      --retention DURATION    how long a finished run is kept
      --sandbox none|isolated sandbox profile
  -D, --stdin std|FILE        read the definition (YAML or JSON) from stdin or a file; options override it
  -f, --force                 replace an existing app without asking
      --format json|yaml      how to show the registered app (default yaml)`,
  async run(context) {
    const client = await context.client();
    const { name, definition } = await definitionOf(context);
    if (!context.args.switches.has('force') && (await exists(client, name))) {
      if (!process.stdin.isTTY) {
        process.stderr.write(`appm: application ${name} exists; add -f to replace it\n`);
        return EXIT.failed;
      }
      if (!(await confirm(`Application ${name} exists: replace it?`))) return EXIT.failed;
    }
    const view = await client.apps.add(name, definition);
    const format = context.args.switches.has('json') ? 'json' : outputFormat(context.args.options.get('format'), 'yaml');
    process.stdout.write(await render(view, format === 'table' ? 'yaml' : format));
    return EXIT.ok;
  },
};

/** The apps a bulk command names: -a NAME (repeatable), -l SELECTOR, -A. */
function selectionOf(context: Context, verb: string): AppSelection {
  const names = context.args.lists.get('app') ?? [];
  const selector = context.args.options.get('selector');
  const all = context.args.switches.has('all');
  if (all && names.length) throw new UsageError(`${verb}: give -a NAME or -A, not both`);
  if (!all && !names.length && selector === undefined) throw new UsageError(`${verb} needs -a NAME, -l SELECTOR or -A`);
  return { ...(names.length ? { names } : {}), ...(selector !== undefined ? { selector } : {}), ...(all ? { all } : {}) };
}

function describeSelection(selection: AppSelection): string {
  const which = selection.names ? selection.names.join(', ') : 'every app you may act on';
  return selection.selector !== undefined ? `${which} matching ${selection.selector}` : which;
}

/** Prints what happened to each app; 0 when nothing was refused, missing or failed. */
function report(result: BulkResult): number {
  let code: number = EXIT.ok;
  for (const item of result.results) {
    if (item.outcome === 'changed' || item.outcome === 'unchanged') process.stdout.write(`${item.message}\n`);
    else {
      process.stderr.write(`appm: ${item.name}: ${item.message || item.outcome}\n`);
      code = EXIT.failed;
    }
  }
  if (result.results.length === 0) process.stderr.write('appm: no app matched\n');
  return code;
}

const SELECTION_HELP = `  -a, --app NAME           an app (repeatable)
  -l, --selector SELECTOR  the apps whose labels match: key=value, key!=value, key or !key,
                           comma-separated, all must hold (with -a: those of the named ones)
  -A, --all                every app you may act on
One call to the daemon: each app is checked as for its own call, and reported.`;

const SELECTION_SPEC = { switches: ['all'], options: ['selector'], repeatable: ['app'], short: { a: 'app', A: 'all', l: 'selector' } } as const;

const rm: Command = {
  spec: { ...SELECTION_SPEC, switches: ['all', 'force'], short: { ...SELECTION_SPEC.short, f: 'force' } },
  help: `Usage: appm rm -a NAME [-a NAME…] | -l SELECTOR | -A [-f]

Removes apps (their processes are stopped). Asks first unless -f.
${SELECTION_HELP}`,
  async run(context) {
    const selection = selectionOf(context, 'rm');
    const client = await context.client();
    if (!context.args.switches.has('force')) {
      if (!process.stdin.isTTY) {
        process.stderr.write(`appm: add -f to remove ${describeSelection(selection)} without a terminal to confirm\n`);
        return EXIT.failed;
      }
      if (!(await confirm(`Remove ${describeSelection(selection)}?`))) return EXIT.failed;
    }
    return report(await client.apps.bulk('delete', selection));
  },
};

function control(verb: 'enable' | 'disable' | 'restart'): Command {
  return {
    spec: SELECTION_SPEC,
    help: `Usage: appm ${verb} -a NAME [-a NAME…] | -l SELECTOR | -A

${verb === 'restart' ? 'Disables then enables apps (their processes start again).' : `${verb === 'enable' ? 'Enables' : 'Disables (stops)'} apps.`}
${SELECTION_HELP}`,
    async run(context) {
      const selection = selectionOf(context, verb);
      const client = await context.client();
      if (verb !== 'restart') return report(await client.apps.bulk(verb, selection));
      const stopped = await client.apps.bulk('disable', selection);
      const code = report(stopped);
      // Started again: the apps the disable reached (refused ones were not touched).
      const reached = stopped.results.filter((item) => item.outcome === 'changed' || item.outcome === 'unchanged').map((item) => item.name);
      if (!reached.length) return code;
      const started = report(await client.apps.bulk('enable', { names: reached }));
      return code === EXIT.ok ? started : code;
    },
  };
}

export const commands: Record<string, Command> = { ls, add, rm, enable: control('enable'), disable: control('disable'), restart: control('restart') };
