// A remote build with the Claude Code plugin's script, as /appmesh:sync-exec runs it: the project
// is synced to the node (only what changed), built and tested there, and the built file comes back.
//   APPMESH_URL=http://127.0.0.1:6060 APPMESH_USER=admin APPMESH_PASSWORD=... node examples/remote-build.mjs [project folder]
// Without a folder, the small project in examples/remote-build/ is built.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../claude-plugin/scripts/appmesh-remote.mjs', import.meta.url));
const project = process.argv[2] ?? fileURLToPath(new URL('./remote-build/', import.meta.url));
const env = { ...process.env, APPMESH_PROJECT_DIR: project, APPMESH_WORKSPACE: process.env.APPMESH_WORKSPACE ?? 'remote-build-example' };
const remote = (...args) => spawnSync(process.execPath, [script, ...args], { cwd: project, env, stdio: 'inherit' }).status ?? 1;

// Sync, build, test; the exit code is the remote one.
const code = remote('sync-exec', 'sh build.sh && sh test.sh', '--pull', 'out/greet');
if (code !== 0) process.exit(code);

// The artifact is here now, byte for byte.
console.log(`pulled out/greet:\n${readFileSync(join(project, 'out', 'greet'), 'utf8')}`);

// A second sync finds nothing to send.
remote('sync');

// The workspace goes when the work is done.
process.exit(remote('cleanup', '--workspace'));
