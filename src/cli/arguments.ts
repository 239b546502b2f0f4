/** What a command accepts: switches (`--help`) and options that take a value (`--home <dir>`, `--home=<dir>`). */
export interface ArgumentSpec {
  switches: readonly string[];
  options: readonly string[];
  /** Single-letter aliases, e.g. `{ h: 'help' }`. */
  aliases?: Readonly<Record<string, string>>;
}

export type ParsedArguments = { ok: true; switches: Set<string>; options: Map<string, string> } | { ok: false; error: string };

/** Parses a command line strictly: anything not in the spec is an error, so a typo never starts a daemon. */
export function parseArguments(argv: readonly string[], spec: ArgumentSpec): ParsedArguments {
  const switches = new Set<string>();
  const options = new Map<string, string>();
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    const long = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    const short = /^-([A-Za-z])$/.exec(arg);
    const name = long?.[1] ?? (short ? spec.aliases?.[short[1]] : undefined);
    if (name === undefined) return { ok: false, error: arg.startsWith('-') ? `unknown option ${arg}` : `unexpected argument ${arg}` };
    const inline = long?.[2];
    if (spec.switches.includes(name)) {
      if (inline !== undefined) return { ok: false, error: `--${name} takes no value` };
      switches.add(name);
    } else if (spec.options.includes(name)) {
      const value = inline ?? argv[++index];
      if (value === undefined || value === '') return { ok: false, error: `--${name} needs a value` };
      options.set(name, value);
    } else {
      return { ok: false, error: `unknown option ${arg}` };
    }
  }
  return { ok: true, switches, options };
}
