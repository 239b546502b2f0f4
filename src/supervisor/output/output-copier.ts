import { close, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { COPIER_MARK, type CopierCommand, type CopierDone } from './copy-worker.js';

/** One copy handed to the copier: resolves once it ended and its descriptors are closed. */
export interface Copy {
  done: Promise<void>;
  cut(): void;
}

interface Pending {
  readFd: number;
  fileFd: number;
  resolve: () => void;
}

/**
 * The daemon side of the output copier (copy-worker.ts): one worker thread, started with the
 * first run whose output is large, copies the pipes handed to it. A copy costs the event loop two
 * messages, whatever the output's size.
 */
class OutputCopier {
  private worker?: Promise<Worker>;
  /** The worker runs and takes copies; until then (or if it never can) the copies stay on the event loop. */
  private running = false;
  private failureReported = false;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** True once the worker runs and takes copies. */
  get ready(): boolean {
    return this.running;
  }

  /**
   * Starts the worker (once) and resolves whether it runs. A copy is handed over only to a worker
   * that runs: an install missing the worker's file costs speed (the copy stays on the event
   * loop, said once through `onFailure`), never output.
   */
  started(onFailure: (message: string) => void): Promise<boolean> {
    if (this.running) return Promise.resolve(true);
    // A worker that could not load will not load later: the install lacks its file.
    if (this.failureReported) return Promise.resolve(false);
    return this.start().then(
      () => true,
      (error: unknown) => {
        if (!this.failureReported) {
          this.failureReported = true;
          onFailure(`output copier not started (${(error as Error).message}): large outputs are copied on the event loop`);
        }
        return false;
      },
    );
  }

  /** Copies `readFd` into `fileFd` from `position` on; the copier owns both descriptors from here. */
  copy(readFd: number, fileFd: number, maxBytes: number, position: number): Copy {
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => this.pending.set(id, { readFd, fileFd, resolve }));
    const worker = this.start();
    void worker.then(
      (thread) => {
        thread.ref();
        thread.postMessage({ type: 'copy', id, readFd, fileFd, maxBytes, position } satisfies CopierCommand);
      },
      // No worker could be started: the output is lost, the run is not.
      () => this.settle(id, true),
    );
    return { done, cut: () => void worker.then((thread) => thread.postMessage({ type: 'cut', id } satisfies CopierCommand), () => undefined) };
  }

  private start(): Promise<Worker> {
    this.worker ??= newWorker().then(async (thread) => {
      thread.unref();
      // Loaded and running: a worker whose code cannot load fails here, before any copy is given.
      await new Promise<void>((resolve, reject) => {
        thread.once('online', resolve);
        thread.once('error', reject);
      });
      this.running = true;
      thread.on('message', (message: CopierDone) => this.settle(message.id, message.pipeOpen === true));
      thread.on('exit', () => {
        this.running = false;
        // Never expected (the worker catches everything); copies in flight end, a next one starts anew.
        // Their pipes may or may not be closed: left alone, as closing a reused number would hit another file.
        this.worker = undefined;
        for (const id of [...this.pending.keys()]) this.settle(id, false);
      });
      thread.on('error', () => undefined);
      return thread;
    });
    this.worker.catch(() => (this.worker = undefined));
    return this.worker;
  }

  /** The copy ended: its file is closed here (and its pipe when the worker never took it). */
  private settle(id: number, closePipe: boolean): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    close(entry.fileFd, () => undefined);
    if (closePipe) close(entry.readFd, () => undefined);
    entry.resolve();
    // An idle copier does not keep the daemon alive.
    if (this.pending.size === 0) void this.worker?.then((thread) => thread.unref(), () => undefined);
  }
}

async function newWorker(): Promise<Worker> {
  const compiled = new URL('./copy-worker.js', import.meta.url);
  const options = { name: 'output-copier', workerData: COPIER_MARK, resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 } };
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled, options);
  // Running from the TypeScript sources (development, tests): the worker is one self-contained file.
  const { default: ts } = await import('typescript');
  const text = await readFile(new URL('./copy-worker.ts', import.meta.url), 'utf8');
  const code = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  return new Worker(code, { ...options, eval: true });
}

export const outputCopier = new OutputCopier();
