// What an agent does through the MCP face: a command with a deadline, a handle to come back to,
// bounded output, an interactive program.
//   APPMESH_URL=http://127.0.0.1:6060 APPMESH_TOKEN=<token> node examples/mcp-agent.mjs
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL('/mcp', process.env.APPMESH_URL ?? 'http://127.0.0.1:6060');
const client = new Client({ name: 'example-agent', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${process.env.APPMESH_TOKEN}` } } }));
const call = async (name, args) => (await client.callTool({ name, arguments: args })).structuredContent;

// Finishes within the deadline: the result comes back at once.
console.log(await call('run_command', { command: 'uname -a' }));

// Outlives the deadline: a handle comes back and the command keeps running.
let run = await call('run_command', { command: 'for i in $(seq 5); do echo step $i; sleep 1; done', yield_ms: 1500 });
console.log(`${run.status}, handle ${run.handle}, so far: ${JSON.stringify(run.output)}`);
while (run.status === 'running') run = await call('wait_run', { handle: run.handle, timeout_ms: 2000 });
console.log(`exit ${run.exit_code}:\n${run.output}`);

// An interactive program.
const repl = await call('run_command', { command: 'python3 -i -q -u', interactive: true, yield_ms: 300 });
await call('write_stdin', { handle: repl.handle, data: 'print(6 * 7)\n', close: true });
console.log((await call('wait_run', { handle: repl.handle, timeout_ms: 5000 })).output);

await client.close();
