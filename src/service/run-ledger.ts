import type { Application } from '../supervisor/application.js';
import type { ProcessRun } from '../supervisor/process/process-run.js';

/** Finished runs a user keeps at most; when one more finishes, the oldest goes. */
export const MAX_FINISHED_RUNS_PER_USER = 100;
/** A finished run whose end was read stays this long at most (its lifecycle may be shorter). */
export const READ_RUN_RETENTION_SECONDS = 600;

/**
 * The runs (one-shot apps) in flight and finished: counted as they start and end, so a new run
 * never scans every app, and finished ones bounded by count and by a short retention once read.
 */
export class RunLedger {
  private runningTotal = 0;
  private readonly runningByOwner = new Map<string, number>();
  /** Per user, finished runs in the order they finished. */
  private readonly finished = new Map<string, Application[]>();
  private readonly removalAt = new WeakMap<Application, number>();
  private readonly shortened = new WeakSet<Application>();

  /** `present` says whether the app is still the one registered under its name; `remove` drops it. */
  constructor(
    private readonly present: (app: Application) => boolean,
    private readonly remove: (app: Application) => void,
  ) {}

  get running(): number {
    return this.runningTotal;
  }

  runningOf(owner: string): number {
    return this.runningByOwner.get(owner) ?? 0;
  }

  /** A run started: it counts until its process is gone, then waits for removal as a finished run. */
  started(app: Application, run: ProcessRun, lifecycleSeconds: number): void {
    const owner = app.definition.owner ?? '';
    this.runningTotal++;
    this.runningByOwner.set(owner, this.runningOf(owner) + 1);
    this.removalAt.set(app, Date.now() + lifecycleSeconds * 1000);
    app.scheduleRemoval(lifecycleSeconds);
    void run.exited.then(() => {
      this.runningTotal--;
      const left = this.runningOf(owner) - 1;
      if (left > 0) this.runningByOwner.set(owner, left);
      else this.runningByOwner.delete(owner);
      this.ended(owner, app);
    });
  }

  /** Somebody saw the run's end (its exit code or final state): it is kept a short while more, not its whole lifecycle. */
  endRead(app: Application): void {
    if (app.kind !== 'oneshot' || app.running || this.shortened.has(app)) return;
    const removalAt = this.removalAt.get(app);
    if (removalAt === undefined) return;
    this.shortened.add(app);
    if (removalAt - Date.now() > READ_RUN_RETENTION_SECONDS * 1000) app.scheduleRemoval(READ_RUN_RETENTION_SECONDS);
  }

  private ended(owner: string, app: Application): void {
    const kept = (this.finished.get(owner) ?? []).filter((other) => this.present(other));
    if (this.present(app)) kept.push(app);
    while (kept.length > MAX_FINISHED_RUNS_PER_USER) this.remove(kept.shift()!);
    if (kept.length) this.finished.set(owner, kept);
    else this.finished.delete(owner);
  }
}
