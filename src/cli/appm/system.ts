import type { ConfigPatch } from '../../client/system.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { EXIT } from './exit-codes.js';
import { outputFormat, render } from './format.js';

const printLabels = (labels: Record<string, string>) => process.stdout.write(Object.entries(labels).map(([key, value]) => `${key}=${value}\n`).join(''));

const label: Command = {
  spec: { switches: ['view', 'add', 'delete'], repeatable: ['label'], short: { a: 'add', d: 'delete', l: 'label' } },
  help: `Usage: appm label [--view] | -a -l KEY=VALUE… | -d -l KEY…

Host labels: lists them (default), adds (-a) or removes (-d) some, then lists them.
  -l, --label KEY=VALUE   a label (repeatable; a key alone with -d)`,
  async run(context) {
    const { switches, lists } = context.args;
    const client = await context.client();
    const labels = lists.get('label') ?? [];
    if ((switches.has('add') || switches.has('delete')) && !labels.length) throw new UsageError('label -a/-d needs -l KEY=VALUE');
    for (const entry of labels) {
      const at = entry.indexOf('=');
      if (switches.has('delete')) await client.system.removeLabel(at < 0 ? entry : entry.slice(0, at));
      else if (switches.has('add')) {
        if (at <= 0) throw new UsageError(`-l takes KEY=VALUE, not '${entry}'`);
        await client.system.setLabel(entry.slice(0, at), entry.slice(at + 1));
      }
    }
    printLabels(await client.system.labels());
    return EXIT.ok;
  },
};

const log: Command = {
  spec: { options: ['level'], short: { L: 'level' } },
  help: `Usage: appm log -L LEVEL

Sets the daemon's log level: DEBUG, INFO, NOTICE, WARN or ERROR.`,
  async run(context) {
    const level = context.args.options.get('level')?.toUpperCase();
    if (!level) throw new UsageError('log needs -L LEVEL');
    const client = await context.client();
    process.stdout.write(`Log level set to ${await client.system.setLogLevel(level as 'INFO')}\n`);
    return EXIT.ok;
  },
};

/** `Section.Key=value` (the value read as JSON when it is JSON, else as text) into a patch. */
function patchOf(assignments: readonly string[]): ConfigPatch {
  const patch: Record<string, Record<string, unknown>> = {};
  for (const assignment of assignments) {
    const match = /^([A-Za-z]+)\.([A-Za-z0-9.]+)=(.*)$/s.exec(assignment);
    if (!match) throw new UsageError(`--set takes Section.Key=value, not '${assignment}'`);
    const [, section, path, text] = match;
    let value: unknown = text;
    try {
      value = JSON.parse(text) as unknown;
    } catch {
      // Plain text.
    }
    const keys = path.split('.');
    let target: Record<string, unknown> = (patch[section] ??= {});
    for (const key of keys.slice(0, -1)) target = (target[key] ??= {}) as Record<string, unknown>;
    target[keys.at(-1)!] = value;
  }
  return patch as ConfigPatch;
}

const config: Command = {
  spec: { options: ['format'], repeatable: ['set'], switches: ['json'], short: { s: 'set', j: 'json' } },
  help: `Usage: appm config [--format json|yaml] [-s Section.Key=value…]

Shows the daemon's configuration (JSON by default); with --set, changes keys first (JSON values
such as true, 30 or ["a"] are read as JSON) and shows the result.
  -s, --set Section.Key=value   a change (repeatable), e.g. -s BaseConfig.LogLevel=DEBUG`,
  async run(context) {
    const client = await context.client();
    const changes = context.args.lists.get('set') ?? [];
    const document = changes.length ? await client.system.updateConfig(patchOf(changes)) : await client.system.config();
    const format = outputFormat(context.args.options.get('format'), 'json');
    process.stdout.write(await render(document, format === 'table' ? 'json' : format));
    return EXIT.ok;
  },
};

const resource: Command = {
  spec: { options: ['format'] },
  help: `Usage: appm resource [--format json|yaml]

Shows the host's resources (CPU, memory, disks, network, load).`,
  async run(context) {
    const client = await context.client();
    const format = outputFormat(context.args.options.get('format'), 'json');
    process.stdout.write(await render(await client.system.resources(), format === 'table' ? 'json' : format));
    return EXIT.ok;
  },
};

const metric: Command = {
  spec: {},
  help: `Usage: appm metric

Prints the daemon's Prometheus metrics.`,
  async run(context) {
    const client = await context.client();
    process.stdout.write(await client.system.metrics());
    return EXIT.ok;
  },
};

export const commands: Record<string, Command> = { label, log, config, resource, metric };
