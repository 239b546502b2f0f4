import { AuditAggregator, DEFAULT_AGGREGATION, type AggregationSettings } from './audit-aggregator.js';
import { capFields, type AuditEvent, type AuditRecord } from './audit-event.js';
import { RotatingFile, type RotationLimits } from './rotating-file.js';

export type { AuditEvent, AuditRecord } from './audit-event.js';

/**
 * Records are gathered this long before they are written: a busy daemon writes a few batches a
 * second instead of one per operation. A crash loses at most this much more than it would anyway
 * (the writes are not synced).
 */
const AUDIT_BATCH_MS = 20;

export interface AuditLogSettings extends RotationLimits {
  /** A failing disk never fails the operation: it is reported here. */
  onError?: (error: Error) => void;
  aggregation?: AggregationSettings;
}

/**
 * Security-relevant events as JSON lines (mode 0600). Fields are capped, floods are aggregated,
 * and the files rotate into a bounded history (`Limits.AuditLogFiles` of `Limits.AuditLogMaxBytes`),
 * so that neither long values nor many events can push the earlier records out.
 */
export class AuditLog {
  private readonly file: RotatingFile;
  private readonly aggregator: AuditAggregator;

  constructor(path: string, settings: AuditLogSettings) {
    this.file = new RotatingFile(path, { batchMs: AUDIT_BATCH_MS, ...settings }, settings.onError ?? (() => undefined));
    this.aggregator = new AuditAggregator((record) => this.write(record), settings.aggregation ?? DEFAULT_AGGREGATION);
  }

  record(event: AuditEvent): void {
    this.aggregator.record(capFields(event));
  }

  /** Writes the counts held so far and resolves when everything is on disk (tests, shutdown). */
  flush(): Promise<void> {
    this.aggregator.drain();
    return this.file.flush();
  }

  /** Writes everything held and closes the file (shutdown); a later record opens it again. */
  close(): Promise<void> {
    this.aggregator.drain();
    return this.file.close();
  }

  private write(record: AuditRecord): void {
    this.file.write(`${JSON.stringify(record)}\n`);
  }
}
