/** A small leveled logger for the daemon's own lines (never for secrets). */
export type LogLevelName = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARN' | 'ERROR';

const ORDER: Record<LogLevelName, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARN: 3, ERROR: 4 };

export class Logger {
  constructor(private level: LogLevelName = 'INFO', private readonly sink: (line: string) => void = (line) => process.stdout.write(`${line}\n`)) {}

  setLevel(level: LogLevelName): void {
    this.level = level;
  }

  log(level: LogLevelName, message: string): void {
    if (ORDER[level] < ORDER[this.level]) return;
    this.sink(`${new Date().toISOString()} ${level.padEnd(6)} ${message}`);
  }

  debug = (message: string) => this.log('DEBUG', message);
  info = (message: string) => this.log('INFO', message);
  warn = (message: string) => this.log('WARN', message);
  error = (message: string) => this.log('ERROR', message);
}
