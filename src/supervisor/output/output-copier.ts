import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CopierCommand, CopierDone } from './copy-worker.js';

/** One copy handed to the copier: resolves once it ended and its descriptors are closed. */
export interface Copy {
  done: Promise<void>;
  cut(): void;
}

interface Pending {
  resolve: () => void;
}

/**
 * The daemon side of the output copier (copy-worker.ts): one worker thread, started with the
 * first run that has output, copies the pipes of every run. Copies only cost the event loop two
 * messages each, whatever the output's size.
 */
class OutputCopier {
  private worker?: Promise<Worker>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  copy(readFd: number, fileFd: number, maxBytes: number): Copy {
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => this.pending.set(id, { resolve }));
    const worker = this.start();
    void worker.then(
      (thread) => {
        thread.ref();
        thread.postMessage({ type: 'copy', id, readFd, fileFd, maxBytes } satisfies CopierCommand);
      },
      // No worker could be started: the output is lost, the run is not.
      () => this.settle(id),
    );
    return { done, cut: () => void worker.then((thread) => thread.postMessage({ type: 'cut', id } satisfies CopierCommand), () => undefined) };
  }

  private start(): Promise<Worker> {
    this.worker ??= newWorker().then((thread) => {
      thread.unref();
      thread.on('message', (message: CopierDone) => this.settle(message.id));
      thread.on('exit', () => {
        // Never expected (the worker catches everything); copies in flight end, a next one starts anew.
        this.worker = undefined;
        for (const id of [...this.pending.keys()]) this.settle(id);
      });
      thread.on('error', () => undefined);
      return thread;
    });
    this.worker.catch(() => (this.worker = undefined));
    return this.worker;
  }

  private settle(id: number): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    entry.resolve();
    // An idle copier does not keep the daemon alive.
    if (this.pending.size === 0) void this.worker?.then((thread) => thread.unref(), () => undefined);
  }
}

async function newWorker(): Promise<Worker> {
  const compiled = new URL('./copy-worker.js', import.meta.url);
  const options = { name: 'output-copier', resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 4 } };
  if (existsSync(fileURLToPath(compiled))) return new Worker(compiled, options);
  // Running from the TypeScript sources (development, tests): the worker is one self-contained file.
  const { default: ts } = await import('typescript');
  const text = await readFile(new URL('./copy-worker.ts', import.meta.url), 'utf8');
  const code = ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  return new Worker(code, { ...options, eval: true });
}

export const outputCopier = new OutputCopier();
