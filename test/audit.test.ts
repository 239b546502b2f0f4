import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { AuditLog } from '../src/audit/audit-log.js';
import { login, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// The audit log is evidence: a hostile client must not be able to wash it out, and what was
// refused must be in it.

interface Record {
  time: string;
  event: string;
  user?: string;
  client?: string;
  target?: string;
  outcome: string;
  detail?: string;
  count?: number;
}

const PASSWORD = 'Audit-User-Password-1';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Every record of the log and its rotated files, oldest first. */
async function records(home: string): Promise<Record[]> {
  const files = (await readdir(home)).filter((name) => /^audit\.log(\.\d+)?$/.test(name));
  const order = (name: string) => Number(name.split('.')[2] ?? 0);
  files.sort((x, y) => order(y) - order(x));
  const lines: Record[] = [];
  for (const file of files) {
    for (const line of (await readFile(join(home, file), 'utf8')).split('\n')) if (line) lines.push(JSON.parse(line) as Record);
  }
  return lines;
}

/** The files under `dir` this process holds open. */
async function openFilesUnder(dir: string): Promise<string[]> {
  const targets = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
  return targets.filter((target) => target.startsWith(`${dir}/`));
}

/** Closes the daemon (which writes out what it still aggregates), keeps its home to read. */
async function closeAndRead(d: TestDaemon): Promise<Record[]> {
  await d.daemon.close();
  try {
    return await records(d.home);
  } finally {
    await rm(d.home, { recursive: true, force: true });
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('a flood of failed logins', () => {
  test('2,112 failed logins with an 11,000-character user name leave the earlier records in place, capped and counted', async () => {
    const d = await startTestDaemon();
    expect((await d.request('PUT', '/appmesh/user/early', { body: { key: PASSWORD, group: 'users', roles: [] } })).status).toBe(200);
    const name = 'x'.repeat(11_000);
    let sent = 0;
    const started = Date.now();
    const worker = async () => {
      while (sent < 2112) {
        sent++;
        const response = await fetch(`${d.url}/appmesh/login`, { method: 'POST', headers: { Authorization: basic(name, 'wrong') } });
        await response.arrayBuffer();
        expect(response.status).toBeGreaterThanOrEqual(400);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    console.log(`audit flood: 2112 failed logins in ${Date.now() - started} ms`);

    const all = await closeAndRead(d);
    expect(all.find((record) => record.event === 'user.add' && record.target === 'early')).toBeDefined();
    const flood = all.filter((record) => record.user?.startsWith('xxxx'));
    // Every occurrence is accounted for, in a handful of short records.
    expect(flood.reduce((sum, record) => sum + (record.count ?? 1), 0)).toBe(2112);
    expect(flood.length).toBeLessThan(20);
    for (const record of flood) expect(record.user!.length).toBeLessThan(300);
    expect(flood[0].user).toMatch(/…\[\+\d+ chars\]$/);
  }, 60_000);

  test('distinct user names from one client are summarised, not written one by one', async () => {
    const d = await startTestDaemon();
    for (let i = 0; i < 300; i++) {
      const response = await fetch(`${d.url}/appmesh/login`, { method: 'POST', headers: { Authorization: basic(`guess-${i}-${'y'.repeat(200)}`, 'wrong') } });
      await response.arrayBuffer();
    }
    const all = await closeAndRead(d);
    const failures = all.filter((record) => record.event.startsWith('login') && record.outcome === 'failure');
    expect(failures.reduce((sum, record) => sum + (record.count ?? 1), 0)).toBe(300);
    expect(failures.length).toBeLessThan(60);
  }, 60_000);
});

describe('refusals are recorded', () => {
  test('a denied permission, a denied app and a refused configuration change are audit events; a flood of them is counted', async () => {
    const d = await startTestDaemon();
    expect((await d.request('PUT', '/appmesh/user/mallory', { body: { key: PASSWORD, group: 'users', roles: ['manage', 'view'] } })).status).toBe(200);
    expect((await d.request('PUT', '/appmesh/app/admins-app', { body: { command: 'sleep 60' } })).status).toBe(200);
    const mallory = await login(d.url, 'mallory', PASSWORD);

    expect((await d.request('POST', '/appmesh/app/syncrun', { token: mallory, body: { command: 'id' } })).status).toBe(400);
    expect((await d.request('DELETE', '/appmesh/app/admins-app', { token: mallory })).status).toBe(400);
    expect((await d.request('POST', '/appmesh/config', { token: mallory, body: { Limits: { MaxRunsPerUser: 100000 } } })).status).toBe(400);
    for (let i = 0; i < 200; i++) await (await d.request('POST', '/appmesh/app/syncrun', { token: mallory, body: { command: 'id' } })).arrayBuffer();

    const denied = (await closeAndRead(d)).filter((record) => record.event === 'authz.denied');
    expect(denied.every((record) => record.user === 'mallory' && record.outcome === 'failure' && record.client)).toBe(true);
    const run = denied.filter((record) => record.target === 'app-run-sync');
    expect(run.reduce((sum, record) => sum + (record.count ?? 1), 0)).toBe(201);
    expect(run.length).toBeLessThan(5);
    expect(denied.find((record) => record.target === 'admins-app' && record.detail?.includes('app-delete'))).toBeDefined();
    expect(denied.find((record) => record.detail?.includes('Limits'))).toBeDefined();
  }, 60_000);
});

describe('aggregation windows', () => {
  test('a flood that goes on is written once per window, with the count of each window', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'appmesh-audit-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const log = new AuditLog(join(dir, 'audit.log'), { maxBytes: () => 1 << 20, files: () => 2, aggregation: { windowMs: 200, failureBurst: 20, maxTracked: 100 } });
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 1000) {
      log.record({ event: 'login', user: 'guessed', client: '192.0.2.1', outcome: 'failure' });
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    await log.flush();
    const written = await records(dir);
    expect(written.reduce((sum, record) => sum + (record.count ?? 1), 0)).toBe(sent);
    // Counts came out while the flood went on, not only at the end.
    expect(written.filter((record) => record.count).length).toBeGreaterThanOrEqual(3);
    expect(written.length).toBeLessThan(sent / 10);
  });
});

describe('rotation', () => {
  test('N files of at most M bytes: the oldest file goes, the others stay whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'appmesh-audit-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const log = new AuditLog(join(dir, 'audit.log'), { maxBytes: () => 4096, files: () => 3 });
    for (let i = 0; i < 400; i++) log.record({ event: 'app.register', user: `user-${i}`, target: `app-${i}`, outcome: 'success' });
    await log.flush();
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(['audit.log', 'audit.log.1', 'audit.log.2']);
    for (const name of names) expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(4096);
    const kept = await records(dir);
    expect(kept.at(-1)?.user).toBe('user-399');
    // Consecutive: nothing lost inside the history that is kept.
    const numbers = kept.map((record) => Number(record.user!.split('-')[1]));
    expect(numbers).toEqual(numbers.map((_, index) => numbers[0] + index));
  });

  test('kept open between batches: lines of many batches land in order across rotations, and close lets go of the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'appmesh-audit-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'audit.log');
    const log = new AuditLog(file, { maxBytes: () => 2048, files: () => 50 });
    for (let batch = 0; batch < 30; batch++) {
      for (let i = 0; i < 5; i++) log.record({ event: 'app.run', user: `user-${batch * 5 + i}`, outcome: 'success' });
      if (batch % 3 === 0) await log.flush();
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await log.flush();
    // Held open while lines keep coming: one open per file, not one per batch.
    expect(await openFilesUnder(dir)).toEqual([file]);
    await log.close();
    expect(await openFilesUnder(dir)).toEqual([]);
    const numbers = (await records(dir)).map((record) => Number(record.user!.split('-')[1]));
    expect(numbers).toEqual(Array.from({ length: 150 }, (_, index) => index));
    for (const name of await readdir(dir)) expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(2048);
    expect((await readdir(dir)).length).toBeGreaterThan(3);
    // A record after the close opens the file again.
    log.record({ event: 'app.run', user: 'user-150', outcome: 'success' });
    await log.close();
    expect((await records(dir)).at(-1)?.user).toBe('user-150');
  });

  test('records of several turns go in one batch: none is written before the window ends, flush writes them at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'appmesh-audit-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const log = new AuditLog(join(dir, 'audit.log'), { maxBytes: () => 1 << 20, files: () => 2, batchMs: 500 });
    for (let i = 0; i < 5; i++) {
      log.record({ event: 'app.run', user: `user-${i}`, outcome: 'success' });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(await records(dir)).toEqual([]);
    await log.flush();
    expect((await records(dir)).map((record) => record.user)).toEqual(['user-0', 'user-1', 'user-2', 'user-3', 'user-4']);
    await log.close();
  });

  test('a field longer than the cap is cut with a marker that says how much was left out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'appmesh-audit-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const log = new AuditLog(join(dir, 'audit.log'), { maxBytes: () => 1 << 20, files: () => 2 });
    log.record({ event: 'app.run', user: 'someone', target: 't'.repeat(1000), detail: 'd'.repeat(5000), outcome: 'success' });
    await log.flush();
    const [record] = await records(dir);
    expect(record.target).toBe(`${'t'.repeat(256)}…[+744 chars]`);
    expect(record.detail).toBe(`${'d'.repeat(256)}…[+4744 chars]`);
  });
});
