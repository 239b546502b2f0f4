// The plugin's sync on a 2,000-file project against the built daemon: a sync with nothing changed
// next to `tar czf` of the same project (what a full-archive sync packs each time, before it can
// tell that nothing changed), and a sync after one file changed next to a full sync (--force) of
// the same project, both in the same run. The script is the committed bundle, run as Claude Code
// runs it (a new node process each time, logging in with a token).
// Run alone: npm run build && node dist/bench/plugin-sync.js [--quick]
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keepAliveClient, loginAs } from './http-client.js';
import type { MeasuredRow, RowsFunction } from './measured.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, startDaemon, stop } from './processes.js';
import { median } from './stats.js';

const FILES = 2000;
const FOLDERS = 40;
const SCRIPT = join(import.meta.dirname, '..', '..', 'claude-plugin', 'scripts', 'appmesh-remote.mjs');

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command} ${args.join(' ')}: exit ${code}\n${output}`))));
  });
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

/** A project of small source-like files (0.5 to 4 KiB) in nested folders. */
async function makeProject(root: string): Promise<void> {
  for (let folder = 0; folder < FOLDERS; folder++) await mkdir(join(root, 'src', `module${folder}`, 'lib'), { recursive: true });
  await writeFile(join(root, '.gitignore'), 'build/\n*.log\n');
  for (let i = 0; i < FILES; i++) {
    const folder = i % FOLDERS;
    const text = `// file ${i}\n${'export const value = "abcdefghijklmnopqrstuvwxyz0123456789";\n'.repeat(8 + (i % 64))}`;
    await writeFile(join(root, 'src', `module${folder}`, i % 2 ? 'lib' : '', `file${i}.ts`), text);
  }
}

export const pluginSyncRows: RowsFunction = async ({ quick }) => {
  const repeats = quick ? 3 : 7;
  const home = await newHome();
  const daemon = await startDaemon(home, { APPMESH_MQTT_Enabled: 'false' });
  const client = keepAliveClient(daemon.url);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const token = await loginAs(client, 'admin', ADMIN_PASSWORD);
    const project = join(home, 'project');
    await makeProject(project);
    // Outside the daemon's home: its file API never reads there.
    const remote = await mkdtemp(join(tmpdir(), 'appmesh-bench-workspace-'));
    const env = { ...process.env, APPMESH_URL: daemon.url, APPMESH_TOKEN: token, APPMESH_WORKSPACE: remote, XDG_CACHE_HOME: join(home, 'cache') };
    cleanups.push(() => rm(remote, { recursive: true, force: true }));
    const sync = (...args: string[]) => run(process.execPath, [SCRIPT, 'sync', ...args], { cwd: project, env });
    await sync();

    const noChange: number[] = [];
    const tarAll: number[] = [];
    const oneFile: number[] = [];
    const full: number[] = [];
    for (let i = 0; i < repeats; i++) {
      noChange.push(await timed(async () => {
        const output = await sync();
        if (!/\b0 file\(s\) sent/.test(output) || output.includes('full comparison')) throw new Error(`expected nothing sent:\n${output}`);
      }));
      tarAll.push(await timed(() => run('tar', ['czf', join(home, 'all.tar.gz'), '-C', project, '.'], { cwd: home })));
      await writeFile(join(project, 'src', 'module0', 'file0.ts'), `// changed ${i}\n`);
      oneFile.push(await timed(async () => {
        const output = await sync();
        if (!/\b1 file\(s\) sent/.test(output)) throw new Error(`expected one file sent:\n${output}`);
      }));
      full.push(await timed(() => sync('--force')));
    }
    const scriptStart: number[] = [];
    const nodeStart: number[] = [];
    for (let i = 0; i < repeats; i++) {
      scriptStart.push(await timed(() => run(process.execPath, [SCRIPT, 'help'], { cwd: project, env })));
      nodeStart.push(await timed(() => run(process.execPath, ['-e', '0'], { cwd: project })));
    }
    return [
      { figure: 'plugin script start (`help`: node and the bundle)', value: median(scriptStart), unit: 'ms', baseline: median(nodeStart), baselineLabel: '`node -e 0`' },
      { figure: `plugin sync, nothing changed (${FILES}-file project)`, value: median(noChange), unit: 'ms', baseline: median(tarAll), baselineLabel: '`tar czf` of the whole project' },
      { figure: `plugin sync, one file changed (${FILES}-file project)`, value: median(oneFile), unit: 'ms', baseline: median(full), baselineLabel: 'full sync of the same project (--force)' },
    ] satisfies MeasuredRow[];
  } finally {
    client.close();
    await stop(daemon.child);
    await removeHome(home);
    for (const cleanup of cleanups) await cleanup();
  }
};

if (process.argv[1] === import.meta.filename) {
  await runBench(async () => console.table(await pluginSyncRows({ quick: process.argv.includes('--quick') })));
}
