import { buildVersion } from '../observability/build-info.js';
import { parseArguments, type ArgumentSpec } from './arguments.js';

const COMMON: ArgumentSpec = { switches: ['help', 'version'], options: [], aliases: { h: 'help', V: 'version' } };

/**
 * Reads a command's arguments. `--help` and `--version` answer and exit 0 before anything is
 * created; a mistake prints the usage on stderr and exits 2. Returns the options' values.
 */
export function readCommandLine(name: string, usage: string, options: readonly string[] = [], argv: readonly string[] = process.argv.slice(2)): Map<string, string> {
  const parsed = parseArguments(argv, { ...COMMON, options });
  if (!parsed.ok) {
    process.stderr.write(`${name}: ${parsed.error}\n\n${usage}`);
    process.exit(2);
  }
  if (parsed.switches.has('help')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  if (parsed.switches.has('version')) {
    process.stdout.write(`${name} ${buildVersion}\n`);
    process.exit(0);
  }
  return parsed.options;
}

/** A bad invocation found after parsing (e.g. a missing file): the same exit as a usage error. */
export function invocationError(name: string, message: string): never {
  process.stderr.write(`${name}: ${message}\n`);
  process.exit(2);
}
