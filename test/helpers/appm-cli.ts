import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The built `appm` (`npm test` builds first). */
export const APPM = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'appm', 'main.js');

export interface AppmResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A person's account on the client machine: its own HOME and XDG_CONFIG_HOME, and `appm` on its PATH. */
export class AppmUser {
  private constructor(readonly home: string, readonly env: NodeJS.ProcessEnv) {}

  static async create(): Promise<AppmUser> {
    const home = await mkdtemp(join(tmpdir(), 'appm-home-'));
    const bin = join(home, 'bin');
    await import('node:fs/promises').then((fs) => fs.mkdir(bin));
    await writeFile(join(bin, 'appm'), `#!/bin/sh\nexec "${process.execPath}" "${APPM}" "$@"\n`);
    await chmod(join(bin, 'appm'), 0o755);
    const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('APPMESH_')));
    return new AppmUser(home, { ...base, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), PATH: `${bin}:${process.env.PATH ?? ''}` });
  }

  /** Runs `appm args…` to its end, with `input` on stdin. */
  run(args: readonly string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<AppmResult> {
    const child = this.spawn(args, env);
    child.stdin.end(input);
    return finished(child);
  }

  spawn(args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcessWithoutNullStreams {
    return spawn(process.execPath, [APPM, ...args], { env: { ...this.env, ...env }, cwd: this.home });
  }

  async remove(): Promise<void> {
    await rm(this.home, { recursive: true, force: true });
  }
}

export function finished(child: ChildProcessWithoutNullStreams): Promise<AppmResult> {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Resolves with what stdout carried once it matches `pattern`. */
export function waitForOutput(child: ChildProcessWithoutNullStreams, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in stdout: ${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        resolve(seen);
      }
    };
    child.stdout.on('data', onData);
  });
}
