/** What to start: the launcher's file and argv, already planned (cgroup entry, privilege drop, sandbox). */
export interface SpawnRequest {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid?: number;
  gid?: number;
  /** The daemon's descriptor of the output pipe's write end; absent: output is discarded. */
  stdoutFd?: number;
  /** 'pipe' when the process gets `input` or stays open for writes (`keepStdinOpen`). */
  stdin: 'ignore' | 'pipe';
  input?: string;
  keepStdinOpen?: boolean;
  /** The run's cgroup folders to make (and limits to write) right before the fork; the launcher enters them. */
  cgroup?: CgroupAtFork;
}

export interface CgroupAtFork {
  folders: string[];
  /** [file, value], written once the folders exist. */
  writes: Array<[string, string]>;
}

export interface ProcessExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the exit could not be observed (the spawner ended): the run's tree must be ended by its owner. */
  lost?: string;
}

/** A started process, wherever it was forked. */
export interface SpawnedProcess {
  readonly pid: number;
  /** Resolves once with the leader's exit, awaited (never polled). */
  readonly exited: Promise<ProcessExitStatus>;
  /** True while stdin accepts writes. */
  readonly stdinOpen: boolean;
  /** Writes to stdin; `end` closes it afterwards. Rejects when it is not open or the write failed. */
  writeStdin(data: Buffer, end: boolean): Promise<void>;
  /** True when reported only once the command runs (the launcher's steps, its cgroup entry among them, are done). */
  readonly reportedAtExec?: boolean;
}

/** One process that forks for the daemon (the native fork server, or the Node spawner). */
export interface SpawnerBackend {
  /** Resolves once it said it is ready; rejects when it ended or never answered. */
  readonly ready: Promise<void>;
  readonly wasReady: boolean;
  readonly pid: number | undefined;
  start(request: SpawnRequest): Promise<SpawnedProcess>;
  /** Removes an ended run's cgroup folders (the fork server): true once removed, false while busy, undefined when it cannot. */
  removeFolders?(folders: string[]): Promise<boolean | undefined>;
  close(): void;
}

/** The spawner cannot be used: the caller starts the process itself. */
export class SpawnerUnavailable extends Error {}
/** The start itself failed (the same failure an in-process spawn would have). */
export class SpawnFailed extends Error {}
/** The spawner ended while a start was in flight: a process may have been forked, unreported. */
export class SpawnOutcomeUnknown extends SpawnFailed {}
/** The run's cgroup folders could not be made (every one made was removed again). */
export class CgroupSetupFailed extends SpawnFailed {
  constructor(readonly code: string) {
    super(`cannot create the run's cgroup: ${code}`);
  }
}
/** The spawner cannot open the daemon's output pipes: it cannot be used at all. */
export class StdioRefused extends Error {}

/** The message of a start that produced no process (as an in-process spawn reports it). */
export const SPAWN_FAILED = 'spawn failed';
