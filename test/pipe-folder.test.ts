import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PipeSource } from '../src/supervisor/output/pipe-source.js';
import { readStartTicks } from '../src/supervisor/process/proc-identity.js';
import { waitFor } from './helpers/test-daemon.js';

// The FIFOs run output goes through live in a private folder in memory (/dev/shm), where a name
// may have been planted by any other account first.

const SHM = '/dev/shm';
const onTmpfs = (() => {
  try {
    return statfsSync(SHM).type === 0x01021994;
  } catch {
    return false;
  }
})();
const scratch = mkdtempSync(join(tmpdir(), 'appmesh-pipe-folder-'));
const memoryName = (diskDir: string) => join(SHM, `appmesh-pipes-${createHash('sha256').update(diskDir).digest('hex').slice(0, 16)}`);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function roundTrip(pipes: PipeSource): void {
  const pipe = pipes.open();
  closeSync(pipe.readFd);
  closeSync(pipe.writeFd);
}

describe.runIf(onTmpfs)('FIFOs in memory', () => {
  test('they are made in a folder of the daemon’s account in /dev/shm, closed to others, removed at close', async () => {
    const diskDir = join(scratch, 'a', '.pipes');
    const pipes = new PipeSource(diskDir);
    expect(pipes.dir).toBe(memoryName(diskDir));
    const stats = lstatSync(pipes.dir);
    expect(stats.isDirectory()).toBe(true);
    expect(stats.mode & 0o777).toBe(0o700);
    expect(stats.uid).toBe(process.getuid!());
    roundTrip(pipes);
    expect(existsSync(diskDir)).toBe(false);
    await pipes.close();
    expect(existsSync(pipes.dir)).toBe(false);
  });

  test('what a crashed daemon left under its name is cleared, never reused', async () => {
    const diskDir = join(scratch, 'b', '.pipes');
    const leftover = memoryName(diskDir);
    mkdirSync(leftover, { mode: 0o700 });
    writeFileSync(join(leftover, 'pipe-left-behind'), '');
    const pipes = new PipeSource(diskDir);
    expect(pipes.dir).toBe(leftover);
    expect(readdirSync(pipes.dir)).not.toContain('pipe-left-behind');
    await pipes.close();
  });

  test.runIf(process.getuid?.() === 0)('a folder another account made under the name is not used, nor emptied', async () => {
    const diskDir = join(scratch, 'c', '.pipes');
    const planted = memoryName(diskDir);
    mkdirSync(planted, { mode: 0o777 });
    writeFileSync(join(planted, 'theirs'), '');
    execFileSync('chown', ['-R', '65534', planted]);
    try {
      const pipes = new PipeSource(diskDir);
      expect(pipes.dir).not.toBe(planted);
      expect(pipes.dir.startsWith(`${SHM}/appmesh-pipes-`)).toBe(true);
      expect(lstatSync(pipes.dir).mode & 0o777).toBe(0o700);
      roundTrip(pipes);
      expect(readdirSync(planted)).toEqual(['theirs']);
      await pipes.close();
    } finally {
      rmSync(planted, { recursive: true, force: true });
    }
  });

  test('a link planted under the name is not followed', async () => {
    const diskDir = join(scratch, 'd', '.pipes');
    const planted = memoryName(diskDir);
    const target = mkdtempSync(join(scratch, 'target-'));
    writeFileSync(join(target, 'precious'), 'x');
    symlinkSync(target, planted);
    try {
      const pipes = new PipeSource(diskDir);
      expect(pipes.dir).not.toBe(planted);
      roundTrip(pipes);
      await pipes.close();
      expect(readdirSync(target)).toEqual(['precious']);
    } finally {
      rmSync(planted, { force: true });
    }
  });
});

describe.runIf(onTmpfs)('memory folders of daemons that were killed', () => {
  test('a folder whose daemon is gone is removed after the next start; one whose daemon runs, or that says nothing of its daemon, stays', async () => {
    const gone = spawnSync('true');
    const ns = readlinkSync('/proc/self/ns/pid');
    const folder = (owner: string | undefined) => {
      const dir = mkdtempSync(join(SHM, 'appmesh-pipes-test-'));
      if (owner !== undefined) writeFileSync(join(dir, '.owner'), owner);
      writeFileSync(join(dir, 'pipe-x'), '');
      return dir;
    };
    const dead = folder(`${gone.pid} 12345 ${ns}\n`);
    const alive = folder(`${process.pid} ${readStartTicks(process.pid)} ${ns}\n`);
    const silent = folder(undefined);
    const elsewhere = folder(`${gone.pid} 12345 pid:[1]\n`);
    try {
      const pipes = new PipeSource(join(scratch, 'f', '.pipes'));
      await waitFor(() => !existsSync(dead) || undefined, 5000, 'the dead daemon’s folder to go');
      for (const dir of [alive, silent, elsewhere]) expect(existsSync(join(dir, 'pipe-x')), dir).toBe(true);
      expect(existsSync(pipes.dir)).toBe(true);
      await pipes.close();
    } finally {
      for (const dir of [dead, alive, silent, elsewhere]) rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('where the memory folder is not a tmpfs, the FIFOs go to the folder on disk', async () => {
  const diskDir = join(scratch, 'e', '.pipes');
  const pipes = new PipeSource(diskDir, scratch);
  expect(pipes.dir).toBe(diskDir);
  roundTrip(pipes);
  await pipes.close();
});
