// Runs commands on an App Mesh TS daemon with the official App Mesh npm client.
//   APPMESH_URL=http://127.0.0.1:6060 APPMESH_PASSWORD=... node examples/rest-client.mjs
import { AppMeshClient } from 'appmesh';

const client = new AppMeshClient(process.env.APPMESH_URL ?? 'http://127.0.0.1:6060');
await client.login(process.env.APPMESH_USER ?? 'admin', process.env.APPMESH_PASSWORD);

// Wait for a command and stream its output.
const exitCode = await client.run_app_sync({ command: 'uname -a' }, (text) => process.stdout.write(text));
console.log(`uname exited with ${exitCode}`);

// Start a longer job, then follow its output until it ends.
const run = await client.run_app_async({ command: 'for i in 1 2 3; do echo step $i; sleep 1; done', shell: true });
console.log(`job exited with ${await client.wait_for_async_run(run)}`);

// A supervised service: restarted whenever it exits.
await client.add_app('heartbeat', { command: 'while true; do date; sleep 5; done', shell: true, behavior: { exit: 'restart' } });
console.log(await client.get_app('heartbeat'));
await client.delete_app('heartbeat');
