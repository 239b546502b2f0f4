import { ConfigError } from './remote-config.js';

export interface ParsedArguments {
  positional: string[];
  options: Map<string, string[]>;
  flags: Set<string>;
  /** After `--`: passed on as they are. */
  rest: string[];
}

/** `--name value`, `--name=value` for the options listed, bare flags for the others. */
export function parseArguments(args: readonly string[], valued: readonly string[], flags: readonly string[]): ParsedArguments {
  const parsed: ParsedArguments = { positional: [], options: new Map(), flags: new Set(), rest: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      parsed.rest = args.slice(i + 1);
      break;
    }
    if (!arg.startsWith('--') || arg.length === 2) {
      parsed.positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (valued.includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new ConfigError(`--${name} needs a value`);
      parsed.options.set(name, [...(parsed.options.get(name) ?? []), value]);
    } else if (flags.includes(name) && inline === undefined) {
      parsed.flags.add(name);
    } else {
      throw new ConfigError(`Unknown option --${name}`);
    }
  }
  return parsed;
}

export function numberOption(parsed: ParsedArguments, name: string, fallback: number): number {
  const value = parsed.options.get(name)?.at(-1);
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new ConfigError(`--${name} takes a positive number: ${value}`);
  return number;
}
