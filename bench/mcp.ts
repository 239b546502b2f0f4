// Latency of one run of `true` through the MCP tool `run_app_sync` (the SDK's own client over
// Streamable HTTP, one session), next to the same run over REST and a bare spawn, in one run.
// Run: npm run build && node dist/bench/mcp.js   (not part of npm test)
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { keepAliveClient, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, startDaemon, stop, QUICK } from './processes.js';
import { interleaved, type Call, type Summary } from './stats.js';
import { ms, perSecond, ratio, round, Table } from './table.js';

const CALLS = QUICK ? 30 : 100;
const WARMUP = 10;
// Short slices: other load on the machine drifts on the scale of seconds.
const ROUNDS = QUICK ? 2 : 5;

const table = new Table();
const summary: Record<string, number> = {};

async function login(client: HttpClient): Promise<string> {
  const basic = Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
  const res = await client.call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.body}`);
  return (JSON.parse(res.body) as { access_token: string }).access_token;
}

function spawnAndWait(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

function syncrun(client: HttpClient, token: string, body: Record<string, unknown>): { call: Call; fresh: () => number } {
  let fresh = 0;
  return {
    call: async () => {
      const res = await client.call('POST', '/appmesh/app/syncrun', { headers: { Authorization: `Bearer ${token}` }, body });
      if (res.status !== 200 || res.headers['x-exit-code'] !== '0') throw new Error(`syncrun: ${res.status} exit ${String(res.headers['x-exit-code'])} ${res.body}`);
      if (!res.reusedSocket) fresh++;
    },
    fresh: () => fresh,
  };
}

function mcpCall(client: Client): Call {
  return async () => {
    const result = (await client.callTool({ name: 'run_app_sync', arguments: { command: 'true' } })) as { isError?: boolean; structuredContent?: { exit_code?: number }; content: unknown };
    if (result.isError || result.structuredContent?.exit_code !== 0) throw new Error(`run_app_sync: ${JSON.stringify(result.content)}`);
  };
}

async function main(): Promise<void> {
  const began = performance.now();
  const home = await newHome();
  const daemon = await startDaemon(home);
  const setup = keepAliveClient(daemon.url);
  const restShellClient = keepAliveClient(daemon.url);
  const restClient = keepAliveClient(daemon.url);
  let mcp: Client | undefined;
  let transport: StreamableHTTPClientTransport | undefined;
  try {
    const token = await login(setup);
    transport = new StreamableHTTPClientTransport(new URL('/mcp', daemon.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
    mcp = new Client({ name: 'appmesh-bench', version: '1.0.0' });
    await mcp.connect(transport);
    // As an agent would: the listing also arms the client's check of each result against the output schema.
    const { tools } = await mcp.listTools();
    if (!tools.some((tool) => tool.name === 'run_app_sync')) throw new Error('no run_app_sync tool');

    // The MCP tool runs a command as a shell command, so REST with shell:true is the like-for-like figure.
    // A plain `true` starts without bash there: spawn('true') is its own cost, spawn('bash -c true') bash's.
    const restShell = syncrun(restShellClient, token, { command: 'true', shell: true });
    const rest = syncrun(restClient, token, { command: 'true' });
    const s = await interleaved(
      {
        mcp: mcpCall(mcp),
        restShell: restShell.call,
        rest: rest.call,
        spawnBash: () => spawnAndWait('bash', ['-c', 'true']),
        spawnTrue: () => spawnAndWait('true', []),
      },
      { count: CALLS, warmup: WARMUP, rounds: ROUNDS },
    );
    for (const [name, x] of [['shell', restShell], ['plain', rest]] as const) {
      if (x.fresh() > 1) throw new Error(`keep-alive not held (REST ${name}): ${x.fresh()} new connections`);
    }

    const vs = (label: string, a: Summary, baseLabel: string, b: Summary) => {
      table.row(`${label}, median`, ms(a.median), `${ms(b.median)} ${baseLabel}`, ratio(a.median, b.median));
      table.row(`${label}, p95`, ms(a.p95), `${ms(b.p95)} ${baseLabel}`, ratio(a.p95, b.p95));
      table.row(`${label}, calls/s`, perSecond(a.perSecond), `${perSecond(b.perSecond)} ${baseLabel}`, ratio(a.perSecond, b.perSecond));
    };
    vs('MCP run_app_sync', s.mcp, 'REST syncrun shell:true', s.restShell);
    vs('MCP run_app_sync', s.mcp, "spawn('bash -c true')", s.spawnBash);
    vs('REST syncrun shell:true', s.restShell, "spawn('bash -c true')", s.spawnBash);
    vs('REST syncrun', s.rest, "spawn('true')", s.spawnTrue);
    vs('REST syncrun shell:true', s.restShell, 'REST syncrun', s.rest);
    table.row('  MCP over REST, same command (median)', ms(s.mcp.median - s.restShell.median));
    table.row('  daemon beyond its spawn, REST shell:true, started without bash (median)', ms(s.restShell.median - s.spawnTrue.median));
    table.row('  bash over bare exec, spawned directly (median)', ms(s.spawnBash.median - s.spawnTrue.median));

    for (const [key, x] of [['mcp', s.mcp], ['rest_shell', s.restShell], ['rest', s.rest], ['spawn_bash', s.spawnBash], ['spawn_true', s.spawnTrue]] as const) {
      Object.assign(summary, { [`${key}_median_ms`]: round(x.median), [`${key}_p95_ms`]: round(x.p95), [`${key}_per_s`]: round(x.perSecond) });
    }
    summary.mcp_over_rest_shell = round(s.mcp.median / s.restShell.median);
    summary.rest_shell_over_spawn_bash = round(s.restShell.median / s.spawnBash.median);
    summary.rest_over_spawn_true = round(s.rest.median / s.spawnTrue.median);
  } finally {
    // Ends the session on the daemon (DELETE /mcp) before the connection goes.
    await transport?.terminateSession().catch(() => undefined);
    await mcp?.close();
    setup.close();
    restShellClient.close();
    restClient.close();
    await stop(daemon.child);
    await removeHome(home);
  }
  summary.bench_seconds = round((performance.now() - began) / 1000);
  console.log(`${CALLS} sequential calls of each after ${WARMUP} warm-up, interleaved in ${ROUNDS} slices; one MCP session, one REST connection per series`);
  table.print();
  console.log(JSON.stringify(summary));
}

await runBench(main);
