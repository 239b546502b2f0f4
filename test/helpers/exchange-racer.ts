import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A process swapping two paths with renameat2(RENAME_EXCHANGE) as fast as it can. */
export interface Racer {
  /** Stops the swapping; the two paths are left in whichever order the last swap made. */
  stop(): Promise<void>;
}

export interface RacerKit {
  /** How the swaps are made: a compiled C program, or python3 through ctypes. */
  kind: 'gcc' | 'python3';
  start(a: string, b: string): Racer;
  dispose(): void;
}

const PYTHON = [
  'import ctypes, sys',
  'libc = ctypes.CDLL(None, use_errno=True)',
  'a, b = sys.argv[1].encode(), sys.argv[2].encode()',
  'while libc.renameat2(-100, a, -100, b, 2) == 0: pass',
  'sys.exit(1)',
].join('\n');

function has(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The swapping tool of this machine, or the reason there is none (Linux with gcc or python3 needed). */
export function exchangeRacer(): RacerKit | string {
  if (process.platform !== 'linux') return 'renameat2 is Linux only';
  const dir = mkdtempSync(join(tmpdir(), 'appmesh-racer-'));
  const binary = join(dir, 'exchange-racer');
  const source = new URL('../fixtures/exchange-racer.c', import.meta.url).pathname;
  let command: string[] | undefined;
  if (has('gcc', ['-O2', '-o', binary, source])) command = [binary];
  else if (has('python3', ['-c', `${PYTHON.split('\n').slice(0, 2).join('\n')}\nlibc.renameat2`])) command = ['python3', '-c', PYTHON];
  if (!command) {
    rmSync(dir, { recursive: true, force: true });
    return 'neither gcc nor python3 with renameat2 is available to race the daemon';
  }
  const argv = command;
  return {
    kind: argv[0] === binary ? 'gcc' : 'python3',
    start(a, b) {
      const child: ChildProcess = spawn(argv[0], [...argv.slice(1), a, b], { stdio: 'ignore' });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      return {
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      };
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
