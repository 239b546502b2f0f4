import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface ChildDaemon {
  url: string;
  pid: number;
  /** Closes its stdin: it stops and removes its home. */
  stop: () => void;
}

/** A test daemon in a process of its own (test/fixtures/daemon-child.ts), so its memory can be measured alone. */
export async function startChildDaemon(): Promise<ChildDaemon> {
  const root = join(import.meta.dirname, '..', '..');
  const child = spawn(process.execPath, [join(root, 'node_modules', 'vite-node', 'vite-node.mjs'), join(root, 'test', 'fixtures', 'daemon-child.ts')], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`the daemon process exited (${code})`)));
  });
  const { url, pid } = JSON.parse(line) as { url: string; pid: number };
  return { url, pid, stop: () => child.stdin.end() };
}
