// REST syncrun of `true` next to a bare node:http server that spawns `true` per request, both in
// their own process: latency one call at a time, and requests per second with 4 connections
// (autocannon). Run alone: npm run build && node dist/bench/rest.js [--quick]
import { join } from 'node:path';
import autocannon from 'autocannon';
import { keepAliveClient, loginAs, type HttpClient } from './http-client.js';
import type { MeasuredRow, RowsFunction } from './measured.js';
import { ADMIN_PASSWORD, newHome, removeHome, runBench, startDaemon, startNodeScript, stop } from './processes.js';
import { interleaved, type Call } from './stats.js';

const BARE_SERVER = join(import.meta.dirname, 'bare-spawn-server.js');
const CONNECTIONS = 4;
const BODY = JSON.stringify({ command: 'true' });
/** A normal user: on a root daemon its runs go through its own OS identity (the privilege drop). */
const USER = { name: 'bench-user', password: 'Bench-User-Password-1', roles: ['manage', 'view', 'shell'] };

function syncrun(client: HttpClient, path: string, headers: Record<string, string>): Call {
  return async () => {
    const res = await client.call('POST', path, { headers, body: { command: 'true' } });
    if (res.status !== 200 || res.headers['x-exit-code'] !== '0') throw new Error(`POST ${path}: ${res.status} exit ${String(res.headers['x-exit-code'])} ${res.body}`);
  };
}

/** Completed 2xx requests per second over `seconds`, `CONNECTIONS` keep-alive connections. */
async function requestRate(url: string, headers: Record<string, string>, seconds: number): Promise<number> {
  const result = await autocannon({ url, method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: BODY, connections: CONNECTIONS, duration: seconds });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`autocannon ${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return result['2xx'] / result.duration;
}

export const restRows: RowsFunction = async ({ quick }) => {
  const home = await newHome();
  const bare = await startNodeScript(BARE_SERVER, '/ready');
  const daemon = await startDaemon(home);
  const daemonClient = keepAliveClient(daemon.url);
  const bareClient = keepAliveClient(bare.url);
  try {
    const token = await loginAs(daemonClient, 'admin', ADMIN_PASSWORD);
    const auth = { Authorization: `Bearer ${token}` };
    const added = await daemonClient.call('PUT', `/appmesh/user/${USER.name}`, { headers: auth, body: { key: USER.password, group: 'user', roles: USER.roles } });
    if (added.status !== 200) throw new Error(`PUT user: ${added.status} ${added.body}`);
    const userAuth = { Authorization: `Bearer ${await loginAs(daemonClient, USER.name, USER.password)}` };
    const latency = await interleaved(
      { daemon: syncrun(daemonClient, '/appmesh/app/syncrun', auth), user: syncrun(daemonClient, '/appmesh/app/syncrun', userAuth), bare: syncrun(bareClient, '/run', {}) },
      { count: quick ? 100 : 400, warmup: 20, rounds: quick ? 2 : 4 },
    );
    // Alternated rounds, so drifting machine load hits both alike.
    const seconds = quick ? 3 : 8;
    const rates = { daemon: [] as number[], bare: [] as number[] };
    for (let round = 0; round < (quick ? 1 : 2); round++) {
      rates.daemon.push(await requestRate(`${daemon.url}/appmesh/app/syncrun`, auth, seconds));
      rates.bare.push(await requestRate(`${bare.url}/run`, {}, seconds));
    }
    const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
    const bareLabel = "bare node:http spawning 'true'";
    return [
      { figure: 'REST syncrun `true`, p50', value: latency.daemon.median, unit: 'ms', baseline: latency.bare.median, baselineLabel: bareLabel },
      { figure: 'REST syncrun `true`, p95', value: latency.daemon.p95, unit: 'ms', baseline: latency.bare.p95, baselineLabel: bareLabel },
      { figure: 'REST syncrun `true` as a normal user, p50', value: latency.user.median, unit: 'ms', baseline: latency.bare.median, baselineLabel: bareLabel },
      { figure: `REST syncrun \`true\`, requests/s (${CONNECTIONS} connections, autocannon)`, value: mean(rates.daemon), unit: '/s', baseline: mean(rates.bare), baselineLabel: bareLabel },
    ] satisfies MeasuredRow[];
  } finally {
    daemonClient.close();
    bareClient.close();
    await stop(daemon.child);
    await stop(bare.child);
    await removeHome(home);
  }
};

if (process.argv[1] === import.meta.filename) {
  await runBench(async () => console.table(await restRows({ quick: process.argv.includes('--quick') })));
}
