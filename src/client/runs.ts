import { followOutput, readOutput, type FollowOptions } from './apps.js';
import type { Session } from './session.js';
import type { AsyncRun, OutputChunk, OutputOptions, RunInput, RunOptions, SyncRunResult } from './types.js';

const runQuery = (options: RunOptions) => ({ timeout: options.timeoutSeconds, lifecycle: options.lifecycleSeconds });

/** Commands run once: waited for, or started and followed. */
export class RunsApi {
  constructor(private readonly session: Session) {}

  /** `POST /appmesh/app/syncrun`: waits for the exit; aborting the signal stops the remote process tree. */
  async runSync(input: RunInput, options: RunOptions = {}): Promise<SyncRunResult> {
    const response = await this.session.request('POST', '/appmesh/app/syncrun', { body: input, query: runQuery(options), signal: options.signal });
    return { output: await response.text(), exitCode: Number(response.headers.get('x-exit-code') ?? NaN) };
  }

  /** `POST /appmesh/app/run`: starts and answers the run's handle at once. */
  runAsync(input: RunInput, options: RunOptions = {}): Promise<AsyncRun> {
    return this.session.json('POST', '/appmesh/app/run', { body: input, query: runQuery(options), signal: options.signal });
  }

  output(run: AsyncRun, options: OutputOptions = {}): Promise<OutputChunk> {
    return readOutput(this.session, run.name, { ...options, processUuid: run.process_uuid });
  }

  /** The run's output as it is written; returns its exit code. */
  follow(run: AsyncRun, options: FollowOptions = {}): AsyncGenerator<OutputChunk, number | undefined> {
    return followOutput(this.session, run.name, { ...options, processUuid: run.process_uuid });
  }

  /** Stops a run's whole process tree and forgets it. */
  async stop(run: AsyncRun | string): Promise<void> {
    await this.session.request('DELETE', `/appmesh/app/${encodeURIComponent(typeof run === 'string' ? run : run.name)}`);
  }

  /**
   * Starts a run, hands each piece of output to `onOutput` as it comes and answers the exit code.
   * Aborting `signal` stops the remote process tree.
   */
  async run(input: RunInput, onOutput: (text: string) => void, options: RunOptions = {}): Promise<number | undefined> {
    const { signal, ...rest } = options;
    const run = await this.runAsync(input, rest);
    const follower = new AbortController();
    const stop = () => follower.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const output = this.follow(run, { signal: follower.signal });
      for (;;) {
        const next = await output.next();
        if (next.done) {
          // Its output was read whole: the finished run is not kept around.
          await this.stop(run).catch(() => undefined);
          return next.value;
        }
        onOutput(next.value.text);
      }
    } catch (error) {
      if (follower.signal.aborted) {
        await this.stop(run).catch(() => undefined);
        return undefined;
      }
      throw error;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }
}
