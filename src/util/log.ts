import { isAbsolute, join } from 'node:path';
import { RotatingFile } from '../audit/rotating-file.js';
import { consoleStdout, flushConsole } from './console-output.js';

/** A small leveled logger for the daemon's own lines (never for secrets). */
export type LogLevelName = 'DEBUG' | 'INFO' | 'NOTICE' | 'WARN' | 'ERROR';
export type LogFormat = 'text' | 'json';

/** Delivers one line; returns exactly false when it could not (its reader is gone), so the line goes to the fallback file. */
export type LogSink = (line: string) => unknown;

/** The `BaseConfig` keys the logger follows, read at each line so changes apply at once. */
export interface LogFileSettings {
  /** Empty: no log file. Relative paths are in the home folder. */
  LogFile: string;
  LogFileMaxBytes: number;
  LogFiles: number;
  LogFormat: LogFormat;
}

/** Where lines go once the console is gone and no LogFile is set. */
export const FALLBACK_LOG_FILE = 'appmesh.log';

const ORDER: Record<LogLevelName, number> = { DEBUG: 0, INFO: 1, NOTICE: 2, WARN: 3, ERROR: 4 };

const stdoutSink: LogSink = (line) => consoleStdout().write(`${line}\n`);

export class Logger {
  private home: string | undefined;
  private settings: (() => LogFileSettings) | undefined;
  private file: { path: string; writer: RotatingFile } | undefined;
  private fallback: { path: string; writer: RotatingFile } | undefined;
  private sinkGone = false;
  private readonly failedFiles = new Set<string>();

  constructor(
    private level: LogLevelName = 'INFO',
    private readonly sink: LogSink = stdoutSink,
  ) {}

  setLevel(level: LogLevelName): void {
    this.level = level;
  }

  /** From now on, lines also go to `LogFile`, and to `<home>/appmesh.log` when the console is gone. */
  useFiles(home: string, settings: () => LogFileSettings): void {
    this.home = home;
    this.settings = settings;
  }

  log(level: LogLevelName, message: string): void {
    if (ORDER[level] < ORDER[this.level]) return;
    // Logging is on every error path: it must never throw, or an error handler could loop.
    try {
      const settings = this.settings?.();
      const line = format(settings?.LogFormat ?? 'text', level, message);
      const delivered = !this.sinkGone && this.sink(line) !== false;
      if (!delivered && !this.sinkGone) {
        this.sinkGone = true;
        this.toFallback(settings, `${format(settings?.LogFormat ?? 'text', 'WARN', 'the console output is closed: log lines go to files only from here')}\n`);
      }
      const file = this.logFile(settings);
      if (file) file.write(`${line}\n`);
      else if (!delivered) this.toFallback(settings, `${line}\n`);
    } catch {
      // Nowhere left to report it.
    }
  }

  debug = (message: string) => this.log('DEBUG', message);
  info = (message: string) => this.log('INFO', message);
  warn = (message: string) => this.log('WARN', message);
  error = (message: string) => this.log('ERROR', message);

  /** Waits for the files (and, at most `timeoutMs`, the console) to take every line so far. */
  async flush(timeoutMs = 1_000): Promise<void> {
    await Promise.all([this.file?.writer.flush(), this.fallback?.writer.flush(), flushConsole(timeoutMs)]);
  }

  private logFile(settings: LogFileSettings | undefined): RotatingFile | undefined {
    if (!settings?.LogFile || !this.home) return undefined;
    const path = isAbsolute(settings.LogFile) ? settings.LogFile : join(this.home, settings.LogFile);
    if (this.file?.path !== path) this.file = { path, writer: this.rotating(path, settings) };
    return this.file.writer;
  }

  private toFallback(settings: LogFileSettings | undefined, text: string): void {
    if (!this.home || settings?.LogFile) return;
    const path = join(this.home, FALLBACK_LOG_FILE);
    if (this.fallback?.path !== path) this.fallback = { path, writer: this.rotating(path, settings) };
    this.fallback.writer.write(text);
  }

  private rotating(path: string, settings: LogFileSettings | undefined): RotatingFile {
    const limits = { maxBytes: () => this.settings?.().LogFileMaxBytes ?? settings?.LogFileMaxBytes ?? 10 * 1024 * 1024, files: () => this.settings?.().LogFiles ?? settings?.LogFiles ?? 5 };
    return new RotatingFile(path, limits, (error) => {
      // Said once per file on the console (if any is left), never through log(): a full disk must not loop.
      if (this.failedFiles.has(path)) return;
      this.failedFiles.add(path);
      if (!this.sinkGone) this.sink(format('text', 'ERROR', `log file ${path}: ${error.message}`));
    });
  }
}

function format(kind: LogFormat, level: LogLevelName, message: string): string {
  const time = new Date().toISOString();
  if (kind === 'json') return JSON.stringify({ time, level, message });
  return `${time} ${level.padEnd(6)} ${message}`;
}
