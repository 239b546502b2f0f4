import { readFile } from 'node:fs/promises';

let source: Promise<string> | undefined;

/**
 * The JavaScript text of the I/O helper. The daemon hands it to the runtime as a program text
 * rather than a file name, so the helper runs whatever the caller's OS account may read of the
 * daemon's installation.
 */
export function ioHelperSource(): Promise<string> {
  source ??= load().catch((error: unknown) => {
    source = undefined;
    throw error;
  });
  return source;
}

async function load(): Promise<string> {
  const compiled = await readFile(new URL('./io-helper.js', import.meta.url), 'utf8').catch(() => undefined);
  if (compiled !== undefined) return compiled;
  // Running from the TypeScript sources (development, tests): the helper is one self-contained file.
  const { default: ts } = await import('typescript');
  const text = await readFile(new URL('./io-helper.ts', import.meta.url), 'utf8');
  return ts.transpileModule(text, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
}
