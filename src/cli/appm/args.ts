/** What a command accepts. Options take a value; `repeatable` ones collect every value given. */
export interface CommandSpec {
  switches?: readonly string[];
  options?: readonly string[];
  repeatable?: readonly string[];
  /** Single letters for long names, e.g. `{ a: 'app' }`. */
  short?: Readonly<Record<string, string>>;
  /** Free arguments allowed (e.g. the command of `exec`); everything after `--` is one too. */
  positionals?: boolean;
}

export interface ParsedCommand {
  switches: Set<string>;
  options: Map<string, string>;
  lists: Map<string, string[]>;
  positionals: string[];
}

export class UsageError extends Error {}

/**
 * Parses strictly: an unknown option is a usage error, never ignored. `-abc` is `-a -b -c` for
 * switches; `-aNAME`, `--app NAME` and `--app=NAME` all give a value.
 */
export function parseCommand(argv: readonly string[], spec: CommandSpec): ParsedCommand {
  const parsed: ParsedCommand = { switches: new Set(), options: new Map(), lists: new Map(), positionals: [] };
  const switches = new Set(spec.switches ?? []);
  const takesValue = new Set([...(spec.options ?? []), ...(spec.repeatable ?? [])]);
  const repeatable = new Set(spec.repeatable ?? []);
  const put = (name: string, value: string) => {
    if (repeatable.has(name)) parsed.lists.set(name, [...(parsed.lists.get(name) ?? []), value]);
    else parsed.options.set(name, value);
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === '--') {
      if (!spec.positionals) throw new UsageError(`unexpected arguments after --: ${argv.slice(index + 1).join(' ')}`);
      parsed.positionals.push(...argv.slice(index + 1));
      break;
    }
    const long = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    if (long) {
      const [, name, inline] = long;
      if (switches.has(name)) {
        if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
        parsed.switches.add(name);
      } else if (takesValue.has(name)) {
        const value = inline ?? argv[++index];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        put(name, value);
      } else {
        throw new UsageError(`unknown option ${arg}`);
      }
      continue;
    }
    if (/^-[A-Za-z]/.test(arg)) {
      for (let at = 1; at < arg.length; at++) {
        const name = spec.short?.[arg[at]];
        if (name === undefined) throw new UsageError(`unknown option -${arg[at]}`);
        if (switches.has(name)) {
          parsed.switches.add(name);
          continue;
        }
        const rest = arg.slice(at + 1);
        const value = rest !== '' ? rest : argv[++index];
        if (value === undefined) throw new UsageError(`-${arg[at]} (--${name}) needs a value`);
        put(name, value);
        break;
      }
      continue;
    }
    if (!spec.positionals) throw new UsageError(`unexpected argument ${arg}`);
    parsed.positionals.push(arg);
  }
  return parsed;
}
