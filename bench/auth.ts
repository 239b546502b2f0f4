// Logins per second and authenticated requests per second against the built daemon, next to
// PBKDF2 alone, the daemon's own unauthenticated readiness route and a bare fastify, in one run.
// Run: npm run build && node dist/bench/auth.js   (not part of npm test)
import { pbkdf2, randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { keepAliveClient, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, READY_PATH, removeHome, runBench, startDaemon, startNodeScript, stop, QUICK } from './processes.js';
import { interleaved, type Call, type Summary } from './stats.js';
import { ms, perSecond, ratio, round, Table } from './table.js';

const LOGINS = QUICK ? 40 : 200;
const LOGIN_WARMUP = 10;
const REQUESTS = QUICK ? 300 : 1000;
const REQUEST_WARMUP = 100;
const CONCURRENCY = 8;
const CONCURRENT_REQUESTS = QUICK ? 1000 : 4000;
const APPS_PATH = '/appmesh/applications';
// What the daemon's verifyPassword does for a stored hash: PBKDF2-HMAC-SHA256, 100k iterations, 32 bytes.
const PBKDF2_ITERATIONS = 100_000;
const pbkdf2Async = promisify(pbkdf2);

const table = new Table();
const header: string[] = [];
const summary: Record<string, number> = {};
const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

/** A checked GET on its own connection(s); counts calls that had to open a new socket. */
function getter(client: HttpClient, path: string, headers: Record<string, string> = {}, body?: string): { call: Call; fresh: () => number } {
  let fresh = 0;
  return {
    call: async () => {
      const res = await client.call('GET', path, { headers });
      if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.body}`);
      if (body !== undefined && res.body !== body) throw new Error(`GET ${path}: unexpected body ${res.body}`);
      if (!res.reusedSocket) fresh++;
    },
    fresh: () => fresh,
  };
}

async function login(client: HttpClient): Promise<string> {
  const res = await client.call('POST', '/appmesh/login', { headers: { Authorization: basic } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.body}`);
  const token = (JSON.parse(res.body) as { access_token?: string }).access_token;
  if (!token) throw new Error('login answered no access_token');
  return token;
}

function loginRows(label: string, logins: Summary, kdf: Summary): void {
  const base = `PBKDF2 100k in bench process`;
  table.row(`${label}, logins/s`, perSecond(logins.perSecond), `${perSecond(kdf.perSecond)} ${base}`, ratio(logins.perSecond, kdf.perSecond));
  table.row(`${label}, median`, ms(logins.median), `${ms(kdf.median)} ${base}`, ratio(logins.median, kdf.median));
  table.row(`${label}, p95`, ms(logins.p95), `${ms(kdf.p95)} ${base}`, ratio(logins.p95, kdf.p95));
}

async function benchLogins(url: string): Promise<void> {
  const one = keepAliveClient(url);
  const many = keepAliveClient(url, CONCURRENCY);
  const salt = randomBytes(16);
  const kdf: Call = async () => void (await pbkdf2Async(ADMIN_PASSWORD, salt, PBKDF2_ITERATIONS, 32, 'sha256'));
  header.push(`POST /appmesh/login (Basic admin, PBKDF2-SHA256 ${PBKDF2_ITERATIONS} iterations per check): ${LOGINS} after ${LOGIN_WARMUP} warm-up, sequential and ${CONCURRENCY} in flight; ${cpus().length} CPUs`);
  header.push('  password checks from one client address take turns (so parallel guesses meet the back-off): in flight from one client is expected to match sequential');
  try {
    // Many short slices: other load on the machine drifts on the scale of seconds.
    const seq = await interleaved({ login: async () => void (await login(one)), kdf }, { count: LOGINS, warmup: LOGIN_WARMUP, rounds: 10 });
    const par = await interleaved(
      { login: async () => void (await login(many)), kdf },
      // Fewer slices here: each one ramps up and drains its calls in flight.
      { count: LOGINS, warmup: LOGIN_WARMUP, concurrency: CONCURRENCY, rounds: 4 },
    );
    loginRows('login, sequential', seq.login, seq.kdf);
    loginRows(`login, x${CONCURRENCY} in flight`, par.login, par.kdf);
    Object.assign(summary, {
      login_per_s: round(seq.login.perSecond),
      login_median_ms: round(seq.login.median),
      login_per_s_x8: round(par.login.perSecond),
      pbkdf2_per_s: round(seq.kdf.perSecond),
      pbkdf2_median_ms: round(seq.kdf.median),
      pbkdf2_per_s_x8: round(par.kdf.perSecond),
    });
  } finally {
    one.close();
    many.close();
  }
}

function requestRows(label: string, s: { apps: Summary; ready: Summary; bare: Summary }): void {
  const vs = (pick: (x: Summary) => number, fmt: (v: number) => string, name: string) => {
    table.row(`${label}, ${name}`, fmt(pick(s.apps)), `${fmt(pick(s.ready))} daemon readyz (no auth)`, ratio(pick(s.apps), pick(s.ready)));
    table.row(`${label}, ${name}`, fmt(pick(s.apps)), `${fmt(pick(s.bare))} bare fastify GET (no auth)`, ratio(pick(s.apps), pick(s.bare)));
  };
  vs((x) => x.perSecond, perSecond, 'req/s');
  vs((x) => x.median, ms, 'median');
  vs((x) => x.p95, ms, 'p95');
}

async function benchRequests(url: string, bareUrl: string, token: string): Promise<void> {
  const bearer = { Authorization: `Bearer ${token}` };
  const clients: HttpClient[] = [];
  const client = (base: string, sockets = 1) => {
    const c = keepAliveClient(base, sockets);
    clients.push(c);
    return c;
  };
  try {
    const probe = client(url);
    const appsBody = (await probe.call('GET', APPS_PATH, { headers: bearer })).body;
    header.push(`GET ${APPS_PATH} answers ${appsBody.length} bytes (${appsBody.slice(0, 40)}); bare fastify answers []; ${REQUESTS} sequential after ${REQUEST_WARMUP} warm-up, ${CONCURRENT_REQUESTS} with ${CONCURRENCY} in flight`);
    const three = (sockets: number) => ({
      apps: getter(client(url, sockets), APPS_PATH, bearer),
      ready: getter(client(url, sockets), READY_PATH),
      bare: getter(client(bareUrl, sockets), '/', {}, '[]'),
    });
    const seqGet = three(1);
    const parGet = three(CONCURRENCY);
    const calls = (g: ReturnType<typeof three>) => ({ apps: g.apps.call, ready: g.ready.call, bare: g.bare.call });
    const seq = await interleaved(calls(seqGet), { count: REQUESTS, warmup: REQUEST_WARMUP, rounds: 4 });
    const par = await interleaved(calls(parGet), { count: CONCURRENT_REQUESTS, warmup: REQUEST_WARMUP, concurrency: CONCURRENCY, rounds: 4 });
    // More fresh sockets than connections would mean handshakes inside the timed calls.
    for (const [g, limit] of [[seqGet, 1], [parGet, CONCURRENCY]] as const) {
      for (const [name, x] of Object.entries(g)) if (x.fresh() > limit) throw new Error(`keep-alive not held (${name}): ${x.fresh()} new connections`);
    }

    requestRows(`GET ${APPS_PATH} + Bearer, sequential`, seq);
    requestRows(`GET ${APPS_PATH} + Bearer, x${CONCURRENCY} in flight`, par);
    // The same HTTP path with and without the token check: what auth and authorisation cost.
    table.row('  auth + authorisation + handler (median apps - readyz)', ms(seq.apps.median - seq.ready.median));
    table.row('  daemon hooks over bare fastify (median readyz - bare)', ms(seq.ready.median - seq.bare.median));
    Object.assign(summary, {
      apps_per_s: round(seq.apps.perSecond),
      apps_median_ms: round(seq.apps.median),
      apps_p95_ms: round(seq.apps.p95),
      apps_per_s_x8: round(par.apps.perSecond),
      readyz_per_s: round(seq.ready.perSecond),
      readyz_median_ms: round(seq.ready.median),
      readyz_per_s_x8: round(par.ready.perSecond),
      bare_fastify_per_s: round(seq.bare.perSecond),
      bare_fastify_median_ms: round(seq.bare.median),
      bare_fastify_per_s_x8: round(par.bare.perSecond),
    });
  } finally {
    for (const c of clients) c.close();
  }
}

async function main(): Promise<void> {
  const began = performance.now();
  const bare = await startNodeScript(join(import.meta.dirname, 'bare-fastify.js'), '/');
  const home = await newHome();
  const daemon = await startDaemon(home);
  try {
    const setup = keepAliveClient(daemon.url);
    const token = await login(setup).finally(() => setup.close());
    await benchLogins(daemon.url);
    await benchRequests(daemon.url, bare.url, token);
  } finally {
    await stop(daemon.child);
    await stop(bare.child);
    await removeHome(home);
  }
  summary.bench_seconds = round((performance.now() - began) / 1000);
  for (const line of header) console.log(line);
  table.print();
  console.log(JSON.stringify(summary));
}

await runBench(main);
