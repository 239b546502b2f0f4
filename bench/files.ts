// 1 GiB upload and download over loopback against the built daemon, next to `cp` of the same file
// in the same run, with the daemon's peak RSS: the transfer must stream, not buffer. On a root
// daemon the same transfers are also measured for a user whose I/O runs in the credential-switched
// helper (a process holding the user's uid/gid), next to admin's in-process path.
// Run: npm run build && node dist/bench/files.js   (not part of npm test)
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, open, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { keepAliveClient, type HttpClient } from './http-client.js';
import { ADMIN_PASSWORD, newHome, runBench, sleep, startDaemon, stop } from './processes.js';
import { emitRows } from './table.js';

const MiB = 1024 * 1024;
const SIZE = 1024 * MiB;
const BLOCK = 16 * MiB;
const POLL_MS = 20;
// Lets the heap settle before the idle RSS is read.
const SETTLE_MS = 1500;

const mibPerSecond = (bytes: number, ms: number) => (bytes / MiB) / (ms / 1000);

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** The daemon's child processes (the file helpers among them). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Samples the daemon's RSS (and its helpers') while `work` runs; returns the work's duration and the peaks seen. */
async function watched(pid: number, work: () => Promise<void>): Promise<{ ms: number; peakRss: number; peakChildRss: number }> {
  let peak = memory(pid).rss;
  let peakChild = 0;
  const sample = () => {
    peak = Math.max(peak, memory(pid).rss);
    for (const child of childrenOf(pid)) {
      try {
        // A child that exited and waits to be reaped has no resident memory to read (NaN).
        const rss = memory(child).rss;
        if (Number.isFinite(rss)) peakChild = Math.max(peakChild, rss);
      } catch {
        // Gone meanwhile.
      }
    }
  };
  const timer = setInterval(sample, POLL_MS);
  const t0 = performance.now();
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  const ms = performance.now() - t0;
  return { ms, peakRss: Math.max(peak, memory(pid).rss), peakChildRss: peakChild };
}

async function makeSource(file: string): Promise<void> {
  // One random block repeated: generating 1 GiB of randomness would dominate the run.
  const block = randomBytes(BLOCK);
  const out = createWriteStream(file);
  for (let written = 0; written < SIZE; written += BLOCK) if (!out.write(block)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

async function timed(work: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: 4 * MiB }), hash);
  return hash.digest('hex');
}

function upload(port: number, token: string, source: string, target: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1', port, method: 'POST', path: '/appmesh/file/upload',
        headers: { Authorization: `Bearer ${token}`, 'X-File-Path': encodeURIComponent(target), 'Content-Type': 'application/octet-stream', 'Content-Length': String(SIZE) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`upload: ${res.statusCode} ${Buffer.concat(chunks)}`))));
      },
    );
    req.on('error', reject);
    createReadStream(source, { highWaterMark: MiB }).pipe(req);
  });
}

/** `local` undefined: the bytes are dropped, measuring the daemon rather than the client's disk. */
function download(port: number, token: string, remote: string, local: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: 'GET', path: '/appmesh/file/download', headers: { Authorization: `Bearer ${token}`, 'X-File-Path': encodeURIComponent(remote) } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`download: ${res.statusCode}`));
          return;
        }
        if (local) pipeline(res, createWriteStream(local, { highWaterMark: MiB })).then(resolve, reject);
        else {
          res.on('end', resolve).on('error', reject);
          res.resume();
        }
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * The same transfers for a user whose work runs as its own OS identity: the daemon streams
 * through the I/O helper holding that uid/gid. The user uploads into a folder it owns.
 */
async function switchedUser(
  client: HttpClient,
  adminToken: string,
  daemon: { pid: number; port: number },
  data: string,
  source: string,
  sourceHash: string,
): Promise<{ up: Awaited<ReturnType<typeof watched>>; down: Awaited<ReturnType<typeof watched>>; drop: Awaited<ReturnType<typeof watched>>; peakRss: number; peakChildRss: number }> {
  const put = await client.call('PUT', '/appmesh/user/bencher', { headers: { Authorization: `Bearer ${adminToken}` }, body: { key: 'Bench-User-Password-1', group: 'bench', roles: ['manage'] } });
  if (put.status !== 200) throw new Error(`PUT user: ${put.status} ${put.body}`);
  const basic = Buffer.from('bencher:Bench-User-Password-1').toString('base64');
  const res = await client.call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
  if (res.status !== 200) throw new Error(`user login failed: ${res.status} ${res.body}`);
  const token = (JSON.parse(res.body) as { access_token: string }).access_token;

  // The user's OS identity: the owner of a file it uploads into a folder open to all.
  await chmod(data, 0o755);
  const drop = join(data, 'drop');
  await mkdir(drop, { mode: 0o1777 });
  await chmod(drop, 0o1777);
  const probe = await client.call('POST', '/appmesh/file/upload', { headers: { Authorization: `Bearer ${token}`, 'X-File-Path': encodeURIComponent(join(drop, 'probe')), 'Content-Type': 'application/octet-stream' }, body: 'probe' });
  if (probe.status !== 200) throw new Error(`probe upload: ${probe.status} ${probe.body}`);
  const { uid, gid } = await stat(join(drop, 'probe'));
  const box = join(data, 'user');
  await mkdir(box, { mode: 0o755 });
  await chown(box, uid, gid);

  const uploaded = join(box, 'uploaded.bin');
  const downloaded = join(data, 'user-downloaded.bin');
  const up = await watched(daemon.pid, () => upload(daemon.port, token, source, uploaded));
  const down = await watched(daemon.pid, () => download(daemon.port, token, uploaded, downloaded));
  const dropped = await watched(daemon.pid, () => download(daemon.port, token, uploaded, undefined));
  const [b, c] = await Promise.all([sha256(uploaded), sha256(downloaded)]);
  if (b !== sourceHash || c !== sourceHash) throw new Error("a user's transferred file differs from the source");
  if ((await stat(uploaded)).uid !== uid) throw new Error("the user's upload does not belong to the user");
  await rm(downloaded);
  await rm(uploaded);
  return {
    up, down, drop: dropped,
    peakRss: Math.max(up.peakRss, down.peakRss, dropped.peakRss),
    peakChildRss: Math.max(up.peakChildRss, down.peakChildRss, dropped.peakChildRss),
  };
}

async function main(): Promise<void> {
  const data = await newHome();
  const source = join(data, 'source.bin');
  const copy = join(data, 'copy.bin');
  const uploaded = join(data, 'uploaded.bin');
  const downloaded = join(data, 'downloaded.bin');
  await makeSource(source);

  // Baseline: the same bytes copied on the same disk, same run.
  const cpMs = await timed(() => run('cp', [source, copy]));
  const cpSyncMs = cpMs + (await timed(() => fsyncFile(copy)));
  await rm(copy);
  const readMs = await timed(() => run('cp', [source, '/dev/null']));

  const home = await newHome();
  const daemon = await startDaemon(home);
  const client = keepAliveClient(daemon.url);
  try {
    const basic = Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
    const res = await client.call('POST', '/appmesh/login', { headers: { Authorization: `Basic ${basic}` } });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.body}`);
    const token = (JSON.parse(res.body) as { access_token: string }).access_token;
    await sleep(SETTLE_MS);
    const idle = memory(daemon.pid).rss;

    // The daemon fsyncs an upload before answering, so its baseline is cp + fsync.
    const up = await watched(daemon.pid, () => upload(daemon.port, token, source, uploaded));
    const down = await watched(daemon.pid, () => download(daemon.port, token, uploaded, downloaded));
    const drop = await watched(daemon.pid, () => download(daemon.port, token, uploaded, undefined));
    const { hwm } = memory(daemon.pid);

    const sizes = await Promise.all([stat(uploaded), stat(downloaded)]);
    if (sizes.some((info) => info.size !== SIZE)) throw new Error('a transferred file has the wrong size');
    const [a, b, c] = await Promise.all([sha256(source), sha256(uploaded), sha256(downloaded)]);
    if (a !== b || a !== c) throw new Error('a transferred file differs from the source');
    await rm(downloaded);

    const switched = process.getuid?.() === 0 ? await switchedUser(client, token, daemon, data, source, a) : undefined;

    const rows: [string, string, string][] = [
      ['upload 1 GiB (raw body, fsync)', `${mibPerSecond(SIZE, up.ms).toFixed(0)} MiB/s (${(up.ms / 1000).toFixed(2)} s)`, `cp + fsync ${mibPerSecond(SIZE, cpSyncMs).toFixed(0)} MiB/s (${(cpSyncMs / 1000).toFixed(2)} s)`],
      ['download 1 GiB to a file', `${mibPerSecond(SIZE, down.ms).toFixed(0)} MiB/s (${(down.ms / 1000).toFixed(2)} s)`, `cp ${mibPerSecond(SIZE, cpMs).toFixed(0)} MiB/s (${(cpMs / 1000).toFixed(2)} s)`],
      ['download 1 GiB, client drops bytes', `${mibPerSecond(SIZE, drop.ms).toFixed(0)} MiB/s (${(drop.ms / 1000).toFixed(2)} s)`, `cp to /dev/null ${mibPerSecond(SIZE, readMs).toFixed(0)} MiB/s (${(readMs / 1000).toFixed(2)} s)`],
      ['daemon RSS idle', `${idle.toFixed(1)} MiB`, ''],
      ['daemon RSS peak during upload', `${up.peakRss.toFixed(1)} MiB`, `+${(up.peakRss - idle).toFixed(1)} MiB over idle`],
      ['daemon RSS peak during downloads', `${Math.max(down.peakRss, drop.peakRss).toFixed(1)} MiB`, `+${(Math.max(down.peakRss, drop.peakRss) - idle).toFixed(1)} MiB over idle`],
      ['daemon VmHWM (lifetime peak)', `${hwm.toFixed(1)} MiB`, ''],
      ...(switched
        ? ([
          ['user upload 1 GiB (helper as its uid)', `${mibPerSecond(SIZE, switched.up.ms).toFixed(0)} MiB/s (${(switched.up.ms / 1000).toFixed(2)} s)`, `admin in-process ${mibPerSecond(SIZE, up.ms).toFixed(0)} MiB/s`],
          ['user download 1 GiB to a file', `${mibPerSecond(SIZE, switched.down.ms).toFixed(0)} MiB/s (${(switched.down.ms / 1000).toFixed(2)} s)`, `admin in-process ${mibPerSecond(SIZE, down.ms).toFixed(0)} MiB/s`],
          ['user download 1 GiB, client drops bytes', `${mibPerSecond(SIZE, switched.drop.ms).toFixed(0)} MiB/s (${(switched.drop.ms / 1000).toFixed(2)} s)`, `admin in-process ${mibPerSecond(SIZE, drop.ms).toFixed(0)} MiB/s`],
          ['daemon RSS peak during user transfers', `${switched.peakRss.toFixed(1)} MiB`, `+${(switched.peakRss - idle).toFixed(1)} MiB over idle`],
          ['helper RSS peak during user transfers', `${switched.peakChildRss.toFixed(1)} MiB`, ''],
        ] as [string, string, string][])
        : [['user transfers through the helper', 'skipped', 'the daemon must run as root'] as [string, string, string]]),
    ];
    const w0 = Math.max(...rows.map((r) => r[0].length));
    const w1 = Math.max(...rows.map((r) => r[1].length));
    console.log(`${'figure'.padEnd(w0)}  ${'value'.padEnd(w1)}  baseline (same run)`);
    for (const [figure, value, baseline] of rows) console.log(`${figure.padEnd(w0)}  ${value.padEnd(w1)}  ${baseline}`);
    emitRows(rows.map(([figure, value, baseline]) => ({ figure, value, baseline: baseline || '-', ratio: '-' })));
    console.log(JSON.stringify({
      upload_mib_s: Math.round(mibPerSecond(SIZE, up.ms)),
      download_mib_s: Math.round(mibPerSecond(SIZE, down.ms)),
      download_dropped_mib_s: Math.round(mibPerSecond(SIZE, drop.ms)),
      cp_devnull_mib_s: Math.round(mibPerSecond(SIZE, readMs)),
      cp_mib_s: Math.round(mibPerSecond(SIZE, cpMs)),
      cp_fsync_mib_s: Math.round(mibPerSecond(SIZE, cpSyncMs)),
      rss_idle_mib: Math.round(idle * 10) / 10,
      rss_peak_upload_mib: Math.round(up.peakRss * 10) / 10,
      rss_peak_download_mib: Math.round(Math.max(down.peakRss, drop.peakRss) * 10) / 10,
      vmhwm_mib: Math.round(hwm * 10) / 10,
      ...(switched && {
        user_upload_mib_s: Math.round(mibPerSecond(SIZE, switched.up.ms)),
        user_download_mib_s: Math.round(mibPerSecond(SIZE, switched.down.ms)),
        user_download_dropped_mib_s: Math.round(mibPerSecond(SIZE, switched.drop.ms)),
        rss_peak_user_transfers_mib: Math.round(switched.peakRss * 10) / 10,
        helper_rss_peak_mib: Math.round(switched.peakChildRss * 10) / 10,
      }),
    }));
  } finally {
    client.close();
    await stop(daemon.child);
  }
}

await runBench(main);
