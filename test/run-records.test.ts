import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { Cgroups } from '../src/containment/cgroups.js';
import { bootId, readStartTicks } from '../src/supervisor/process/proc-identity.js';
import { PROCESS_KEY_ENV } from '../src/supervisor/process/process-run.js';
import { endLeftovers, sha256 } from '../src/supervisor/recovery/leftovers.js';
import { RunRecords, type RunRecord } from '../src/supervisor/recovery/run-records.js';
import { newHome, processAlive, waitFor } from './helpers/test-daemon.js';

const onLinux = process.platform === 'linux';
const asRoot = process.getuid?.() === 0;
const homes: string[] = [];
const started: ChildProcess[] = [];

/** A process outside any group of ours (its own session), as a crashed daemon's app would be. */
function orphanLike(env: Record<string, string> = {}): ChildProcess {
  const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore', env: { ...process.env, ...env } });
  child.unref();
  started.push(child);
  return child;
}

function record(fields: Partial<RunRecord>): RunRecord {
  return { uuid: randomUUID(), app: 'app', kind: 'managed', pid: 999_999_999, start_ticks: 0, boot_id: bootId(), key_sha256: sha256('none'), started_at: 0, ...fields };
}

async function records(): Promise<RunRecords> {
  const home = await newHome();
  homes.push(home);
  return new RunRecords(`${home}/runs`, () => undefined);
}

afterEach(async () => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
});

describe.runIf(onLinux)('what a restarted daemon ends', () => {
  test('a process that carries a recorded run\'s key is ended, whatever group or session it made', async () => {
    const key = randomBytes(24).toString('base64url');
    const stray = orphanLike({ [PROCESS_KEY_ENV]: key });
    const store = await records();
    store.add(record({ key_sha256: sha256(key) }));
    await waitFor(async () => (await store.readAll()).length === 1, 2000, 'the record');
    const report = await endLeftovers({ records: store, graceMs: 500 });
    expect(report).toEqual({ apps: ['app'], found: true });
    await waitFor(async () => !(await processAlive(stray.pid!)), 3000, 'the stray to end');
    expect(await store.readAll()).toEqual([]);
  });

  test('a recorded pid now used by another process (other start time) is left alone; so is everything of another boot', async () => {
    const stranger = orphanLike();
    const key = randomBytes(24).toString('base64url');
    const earlierBoot = orphanLike({ [PROCESS_KEY_ENV]: key });
    const store = await records();
    store.add(record({ pid: stranger.pid!, start_ticks: (readStartTicks(stranger.pid!) ?? 0) - 1 }));
    store.add(record({ pid: earlierBoot.pid!, start_ticks: readStartTicks(earlierBoot.pid!)!, key_sha256: sha256(key), boot_id: 'another-boot' }));
    await waitFor(async () => (await store.readAll()).length === 2, 2000, 'the records');
    expect(await endLeftovers({ records: store, graceMs: 500 })).toEqual({ apps: [], found: false });
    expect(await processAlive(stranger.pid!)).toBe(true);
    expect(await processAlive(earlierBoot.pid!)).toBe(true);
    // Stale records go.
    expect(await store.readAll()).toEqual([]);
  });

  test('a torn or foreign file in the records folder is dropped, not trusted', async () => {
    const store = await records();
    const { writeFile } = await import('node:fs/promises');
    const dir = (store as unknown as { dir: string }).dir;
    await writeFile(`${dir}/${randomUUID()}.json`, '{"uuid":"x","pid":');
    await writeFile(`${dir}/notes.txt`, 'hello');
    expect(await store.readAll()).toEqual([]);
    expect(existsSync(`${dir}/notes.txt`)).toBe(false);
  });

  const cgroups = asRoot ? Cgroups.open({ home: `/records-test-${randomUUID()}`, enabled: true, limits: { maxProcesses: () => 1000, maxMemoryMB: () => 0 }, log: () => undefined }) : undefined;
  test.runIf(cgroups?.enabled)('a recorded cgroup is emptied and removed even where this instance would not look (its own cgroup moved)', async () => {
    const run = cgroups!.createRun('someone', {}, randomUUID())!;
    const inside = orphanLike();
    run.place(inside.pid!);
    expect(run.members()).toContain(inside.pid);
    const store = await records();
    store.add(record({ cgroup: { mode: run.mode, dirs: [...run.dirs] } }));
    await waitFor(async () => (await store.readAll()).length === 1, 5000, 'the record');
    // No cgroups of its own: only the record leads there.
    expect(await endLeftovers({ records: store, graceMs: 500 })).toEqual({ apps: ['app'], found: true });
    expect(await processAlive(inside.pid!)).toBe(false);
    for (const { dir } of run.dirs) expect(existsSync(dir)).toBe(false);
    cgroups!.close();
  });

  test('a run in a cgroup that ends within the delay costs no file; one that lasts is recorded, and removed without a trace', async () => {
    const home = await newHome();
    homes.push(home);
    const store = new RunRecords(`${home}/runs`, () => undefined, 300);
    const cgroup = { mode: 'v1' as const, dirs: [{ dir: '/nonexistent/run-x', controllers: ['pids'] }] };
    const short = record({ cgroup });
    await store.add(short);
    await store.remove(short.uuid);
    const long = record({ cgroup });
    await store.add(long);
    // Not yet: the cgroup folder is the record for now.
    expect(readdirSync(`${home}/runs`)).toEqual([]);
    await waitFor(() => readdirSync(`${home}/runs`).length === 1 || undefined, 5000, 'the record of the run that lasts');
    expect(readdirSync(`${home}/runs`)).toEqual([`${long.uuid}.json`]);
    await store.remove(long.uuid);
    expect(readdirSync(`${home}/runs`)).toEqual([]);
    // A run without a cgroup is recorded before its start returns.
    const plain = record({});
    await store.add(plain);
    expect(readdirSync(`${home}/runs`)).toEqual([`${plain.uuid}.json`]);
  });

  test('a removal while the delayed record is being written leaves no file behind', async () => {
    const home = await newHome();
    homes.push(home);
    const store = new RunRecords(`${home}/runs`, () => undefined, 1);
    const cgroup = { mode: 'v1' as const, dirs: [{ dir: '/nonexistent/run-y', controllers: ['pids'] }] };
    for (let attempt = 0; attempt < 50; attempt++) {
      const run = record({ cgroup });
      await store.add(run);
      await new Promise((resolve) => setTimeout(resolve, attempt % 3));
      await store.remove(run.uuid);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(readdirSync(`${home}/runs`)).toEqual([]);
  });

  test('a record is made only when it is written: never for a run in a cgroup that ends within the delay', async () => {
    const home = await newHome();
    homes.push(home);
    const store = new RunRecords(`${home}/runs`, () => undefined, 200);
    const cgroup = { mode: 'v1' as const, dirs: [{ dir: '/nonexistent/run-z', controllers: ['pids'] }] };
    let made = 0;
    const making = (fields: Partial<RunRecord>) => {
      const built = record(fields);
      return { uuid: built.uuid, make: () => (made++, built) };
    };
    const short = making({ cgroup });
    await store.addMade(short.uuid, true, short.make);
    await store.remove(short.uuid);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(made).toBe(0);
    const long = making({ cgroup });
    await store.addMade(long.uuid, true, long.make);
    expect(made).toBe(0);
    await waitFor(() => readdirSync(`${home}/runs`).length === 1 || undefined, 5000, 'the record of the run that lasts');
    expect(made).toBe(1);
    await store.remove(long.uuid);
    // Without a cgroup, it is made and written before the start goes on.
    const plain = making({});
    await store.addMade(plain.uuid, false, plain.make);
    expect(made).toBe(2);
    expect(readdirSync(`${home}/runs`)).toEqual([`${plain.uuid}.json`]);
  });
});
