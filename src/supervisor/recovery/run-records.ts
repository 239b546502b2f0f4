import { mkdirSync } from 'node:fs';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hierarchy } from '../../containment/cgroup-detect.js';

/** What a restarted daemon needs to find a process tree of its predecessor. */
export interface RunRecord {
  uuid: string;
  app: string;
  kind: 'managed' | 'oneshot';
  owner?: string;
  /** Leader of the run: its pid is also its process group. */
  pid: number;
  /** /proc/<pid>/stat field 22: the pid is this process only while the start time matches. */
  start_ticks: number;
  /** Pids and start times hold within one boot only. */
  boot_id: string;
  /** SHA-256 of the run's process key: every process of the run inherits the key in its environment. */
  key_sha256: string;
  /** The run's cgroup folders (they may lie elsewhere than the next instance's own tree). */
  cgroup?: { mode: 'v1' | 'v2'; dirs: Hierarchy[] };
  started_at: number;
}

const RECORD_FILE = /^[0-9a-f-]{36}\.json$/;
/** How long a run in a cgroup lasts before its record is written (see `add`). */
const CGROUP_RECORD_DELAY_MS = 1000;

/**
 * One file per running process tree under `<home>/runs`, written when a run starts and removed
 * once nothing of it is left. A record is written once, into a new file of its own name (one
 * create, no temporary file and rename on the start's path): a crash in the middle of the write
 * leaves a file that does not parse, which the next start deletes like a record never written.
 * No fsync: the records matter only while the host stays up; a power loss ends the processes
 * they describe too (and changes the boot id).
 */
export class RunRecords {
  constructor(
    private readonly dir: string,
    private readonly log: (level: 'warn', message: string) => void,
    private readonly cgroupRecordDelayMs = CGROUP_RECORD_DELAY_MS,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Writes of records of runs in a cgroup, held back until their run has lasted `cgroupRecordDelayMs`. */
  private readonly held = new Map<string, NodeJS.Timeout>();
  /** Those being written now: a removal waits for the write, or the file would outlive its run. */
  private readonly writing = new Map<string, Promise<void>>();

  /**
   * Written in the thread pool (no fsync); the start awaits it, so a daemon killed the moment after
   * a start still leaves the record of what it started. A run in a cgroup is the exception: its
   * cgroup folder, made before its process existed, is what a restarted daemon finds it by, so its
   * record (which adds the app's name) is written only once the run has lasted
   * `cgroupRecordDelayMs`; the many runs that end sooner (syncruns, health checks) cost no file.
   * Never rejects: a failure is logged.
   */
  async add(record: RunRecord): Promise<void> {
    await this.addMade(record.uuid, record.cgroup !== undefined, () => record);
  }

  /**
   * `add`, with the record made by `make` only when it is written: a run in a cgroup that ends
   * within the delay costs neither its file nor the reads and hashing its fields take.
   */
  async addMade(uuid: string, inCgroup: boolean, make: () => RunRecord): Promise<void> {
    if (inCgroup && this.cgroupRecordDelayMs > 0) {
      const timer = setTimeout(() => {
        this.held.delete(uuid);
        const writing = this.writeMade(uuid, make).finally(() => this.writing.delete(uuid));
        this.writing.set(uuid, writing);
      }, this.cgroupRecordDelayMs);
      timer.unref();
      this.held.set(uuid, timer);
      return;
    }
    await this.writeMade(uuid, make);
  }

  private async writeMade(uuid: string, make: () => RunRecord): Promise<void> {
    let record: RunRecord;
    try {
      record = make();
    } catch (error) {
      this.log('warn', `run record ${uuid} not written (a crash would leave it unsupervised): ${(error as Error).message}`);
      return;
    }
    await this.writeLogged(record);
  }

  private async writeLogged(record: RunRecord): Promise<void> {
    try {
      await this.write(record);
    } catch (error) {
      this.log('warn', `run record of ${record.app} not written (a crash would leave it unsupervised): ${(error as Error).message}`);
    }
  }

  async remove(uuid: string): Promise<void> {
    const held = this.held.get(uuid);
    if (held) {
      clearTimeout(held);
      this.held.delete(uuid);
      return;
    }
    await this.writing.get(uuid);
    await unlink(this.file(uuid)).catch(() => undefined);
  }

  /** Every readable record; unreadable files (and temporary files of a write cut short) are deleted. */
  async readAll(): Promise<RunRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const records: RunRecord[] = [];
    for (const name of names) {
      const path = join(this.dir, name);
      const record = RECORD_FILE.test(name) ? await readRecord(path) : undefined;
      if (record) records.push(record);
      else await unlink(path).catch(() => undefined);
    }
    return records;
  }

  private file(uuid: string): string {
    return join(this.dir, `${uuid}.json`);
  }

  private async write(record: RunRecord): Promise<void> {
    // `wx`: a run's uuid is new, and a link planted under its name is never followed.
    await writeFile(this.file(record.uuid), JSON.stringify(record), { flag: 'wx', mode: 0o600 });
  }
}

async function readRecord(path: string): Promise<RunRecord | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as Partial<RunRecord>;
    const valid =
      typeof value.uuid === 'string' &&
      typeof value.app === 'string' &&
      Number.isInteger(value.pid) && (value.pid ?? 0) > 1 &&
      Number.isInteger(value.start_ticks) &&
      typeof value.boot_id === 'string' &&
      typeof value.key_sha256 === 'string';
    return valid ? (value as RunRecord) : undefined;
  } catch {
    return undefined;
  }
}
