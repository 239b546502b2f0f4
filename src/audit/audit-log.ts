import { appendFile, rename, stat } from 'node:fs/promises';

export interface AuditEvent {
  /** e.g. `login`, `login.failed`, `token.renew`, `token.revoke`, `user.add`, `app.register`, `app.run`. */
  event: string;
  user?: string;
  client?: string;
  target?: string;
  outcome: 'success' | 'failure';
  detail?: string;
}

const MAX_BYTES = 10 * 1024 * 1024;

/**
 * Security-relevant events as JSON lines (mode 0600), one file rotated once at 10 MiB.
 * Writes are serialised so lines never interleave; a failing disk never fails the operation.
 */
export class AuditLog {
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly file: string, private readonly onError: (error: Error) => void = () => undefined) {}

  record(event: AuditEvent): void {
    const line = `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`;
    this.queue = this.queue.then(() => this.append(line)).catch((error: Error) => this.onError(error));
  }

  /** Resolves when everything recorded so far is on disk (tests, shutdown). */
  flush(): Promise<void> {
    return this.queue;
  }

  private async append(line: string): Promise<void> {
    const size = await stat(this.file).then((info) => info.size).catch(() => 0);
    if (size + line.length > MAX_BYTES) await rename(this.file, `${this.file}.1`).catch(() => undefined);
    await appendFile(this.file, line, { mode: 0o600 });
  }
}
