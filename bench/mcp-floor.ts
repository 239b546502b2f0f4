// MCP `run_command` `true` over Streamable HTTP against the daemon, beside an MCP server built
// with the SDK whose one tool executes nothing (`echo`), called with the same SDK client the
// same way; and the first `initialize` + `tools/list` of a session on each, each on a server just
// started, measured from a client that has already opened sessions elsewhere (its own first-use
// costs are not the server's), alternating which server goes first.
// Run: npm run build && node dist/bench/mcp-floor.js   (not part of npm test)
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { keepAliveClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, startDaemon, startNodeScript, stop } from './processes.js';
import { interleaved, median, type Call } from './stats.js';
import { printRows, type FigureRow } from './startup.js';
import { round } from './table.js';

const CALLS = 100;
const WARMUP = 10;
const ROUNDS = 5;
const QUICK = { count: 30, warmup: 5, rounds: 3 };
/** Fresh servers whose first session is timed (the median is shown). */
const FIRST_SESSION_ROUNDS = 3;
const FLOOR_SERVER = join(import.meta.dirname, 'mcp-floor-server.js');
const FLOOR_LABEL = 'MCP SDK server, no-exec echo tool';

interface Session {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** `initialize` (connect) plus `tools/list`, in ms. */
  firstMs: number;
}

async function openSession(url: string, token?: string): Promise<Session> {
  const started = performance.now();
  const transport = new StreamableHTTPClientTransport(new URL('/mcp', url), token ? { requestInit: { headers: { Authorization: `Bearer ${token}` } } } : undefined);
  const client = new Client({ name: 'appmesh-bench', version: '1.0.0' });
  await client.connect(transport);
  await client.listTools();
  return { client, transport, firstMs: performance.now() - started };
}

async function closeSession(session: Session | undefined): Promise<void> {
  await session?.transport.terminateSession().catch(() => undefined);
  await session?.client.close().catch(() => undefined);
}

function toolCall(client: Client, name: string, args: Record<string, unknown>, check: (result: { isError?: boolean; structuredContent?: Record<string, unknown> }) => boolean): Call {
  return async () => {
    const result = (await client.callTool({ name, arguments: args })) as { isError?: boolean; structuredContent?: Record<string, unknown>; content: unknown };
    if (!check(result)) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
  };
}

async function login(url: string): Promise<string> {
  const client = keepAliveClient(url);
  try {
    const basic = Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
    const res = await client.call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.body}`);
    return (JSON.parse(res.body) as { access_token: string }).access_token;
  } finally {
    client.close();
  }
}

/** The first session of a daemon and of a floor server just started, in either order, from a warmed client. */
async function firstSessions(rounds: number): Promise<{ ours: number; floor: number }> {
  const ours: number[] = [];
  const floor: number[] = [];
  // The client's own first session (module compilation, first validators) is paid here, on neither side.
  const warm = await startNodeScript(FLOOR_SERVER, '/ready');
  try {
    for (let i = 0; i < 3; i++) await closeSession(await openSession(warm.url));
  } finally {
    await stop(warm.child);
  }
  for (let round = 0; round < rounds; round++) {
    const home = await newHome();
    const daemon = await startDaemon(home);
    const server = await startNodeScript(FLOOR_SERVER, '/ready');
    try {
      const token = await login(daemon.url);
      const timeOurs = async () => {
        const session = await openSession(daemon.url, token);
        ours.push(session.firstMs);
        await closeSession(session);
      };
      const timeFloor = async () => {
        const session = await openSession(server.url);
        floor.push(session.firstMs);
        await closeSession(session);
      };
      if (round % 2 === 0) await timeOurs().then(timeFloor);
      else await timeFloor().then(timeOurs);
    } finally {
      await stop(daemon.child);
      await stop(server.child);
      await removeHome(home);
    }
  }
  return { ours: median(ours), floor: median(floor) };
}

export async function mcpRows(options: { quick?: boolean } = {}): Promise<FigureRow[]> {
  const first = await firstSessions(options.quick ? 1 : FIRST_SESSION_ROUNDS);
  const home = await newHome();
  const daemon = await startDaemon(home);
  const floor = await startNodeScript(FLOOR_SERVER, '/ready');
  let ours: Session | undefined;
  let theirs: Session | undefined;
  try {
    const token = await login(daemon.url);
    ours = await openSession(daemon.url, token);
    theirs = await openSession(floor.url);
    const s = await interleaved(
      {
        ours: toolCall(ours.client, 'run_command', { command: 'true' }, (r) => !r.isError && r.structuredContent?.exit_code === 0),
        floor: toolCall(theirs.client, 'echo', { text: 'x' }, (r) => !r.isError),
        // A tool that starts nothing: the MCP face alone, beside the same floor.
        oursNoExec: toolCall(ours.client, 'get_current_user', {}, (r) => !r.isError && typeof r.structuredContent?.name === 'string'),
        // The same command with shell syntax that changes nothing: bash starts, then runs it.
        oursThroughBash: toolCall(ours.client, 'run_command', { command: 'true;' }, (r) => !r.isError && r.structuredContent?.exit_code === 0),
      },
      options.quick ? QUICK : { count: CALLS, warmup: WARMUP, rounds: ROUNDS },
    );
    return [
      { figure: 'MCP run_command `true`, p50', value: round(s.ours.median), unit: 'ms', baseline: round(s.floor.median), baselineLabel: `${FLOOR_LABEL}, p50` },
      { figure: 'MCP run_command `true` (started without bash), p50', value: round(s.ours.median), unit: 'ms', baseline: round(s.oursThroughBash.median), baselineLabel: 'the same through bash (`true;`), p50' },
      { figure: 'MCP tool call that starts nothing (get_current_user), p50', value: round(s.oursNoExec.median), unit: 'ms', baseline: round(s.floor.median), baselineLabel: `${FLOOR_LABEL}, p50` },
      { figure: 'MCP first initialize + tools/list', value: round(first.ours), unit: 'ms', baseline: round(first.floor), baselineLabel: `${FLOOR_LABEL}, median of fresh servers` },
    ];
  } finally {
    await closeSession(ours);
    await closeSession(theirs);
    await stop(daemon.child);
    await stop(floor.child);
    await removeHome(home);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runBench(async () => {
    console.log(`${CALLS} sequential calls of each after ${WARMUP} warm-up, interleaved in ${ROUNDS} slices; one session each, the SDK's client over Streamable HTTP`);
    printRows(await mcpRows());
  });
}
