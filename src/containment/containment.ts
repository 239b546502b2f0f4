import { Cgroups, type CgroupReport, type UserLimits } from './cgroups.js';
import { launcherTools, type LauncherTools } from './launcher.js';
import { Spawner } from './spawner.js';

/** `GET /appmesh/resources` → `containment`: what holds the processes the daemon starts. */
export interface ContainmentReport {
  cgroups: CgroupReport;
  launcher: {
    /** The first program of each run: the daemon's `appmesh-launch`, or `/bin/sh` with a fixed script. */
    program: 'appmesh-launch' | 'sh';
    /** Why `program` is `sh`. */
    program_reason?: string;
    /** How a process changes to its user: by the launcher after entering its cgroup (`appmesh-launch`, `setpriv`), or Node's spawn options (placed in its cgroup after it started). */
    privilege_drop: 'appmesh-launch' | 'setpriv' | 'spawn-options';
    reason?: string;
    /** Who forks: the spawner process (`process`), or the daemon itself (`daemon`: switched off, or the spawner could not be used). */
    spawner?: 'process' | 'daemon';
    spawner_reason?: string;
    /** The spawner process of runs without stdin: appmesh-launch's fork server (one exec per run), or the Node spawner. */
    spawner_program?: 'appmesh-launch' | 'node';
    spawner_program_reason?: string;
  };
  /** Sections other parts of containment add (`addReportSection`). */
  [section: string]: unknown;
}

export interface ContainmentOptions {
  home: string;
  env: NodeJS.ProcessEnv;
  limits: UserLimits;
  log: (level: 'info' | 'warn', message: string) => void;
}

/**
 * How the daemon contains the processes it starts: a cgroup per process tree (or process groups
 * where cgroups cannot be used) and the launcher's tools. Decided once at start.
 * `APPMESH_CGROUPS=off` in the daemon's environment keeps it to process groups; `APPMESH_LAUNCHER=sh`
 * starts runs through /bin/sh and setpriv even where appmesh-launch was built.
 */
export class Containment {
  private readonly sections = new Map<string, () => unknown>();

  /** Forks every process off the daemon's event loop; absent with `APPMESH_SPAWNER=off` (the daemon forks itself). */
  readonly spawner?: Spawner;

  private constructor(
    readonly cgroups: Cgroups,
    readonly tools: LauncherTools,
    spawner?: Spawner,
    private readonly shellChosen = false,
  ) {
    this.spawner = spawner;
  }

  /** Another part of containment (such as the sandbox) reports under `name` beside `cgroups`. */
  addReportSection(name: string, report: () => unknown): void {
    if (name === 'cgroups' || name === 'launcher') throw new Error(`containment report section ${name} is taken`);
    this.sections.set(name, report);
  }

  static open(options: ContainmentOptions): Containment {
    const enabled = (options.env.APPMESH_CGROUPS ?? '').trim().toLowerCase() !== 'off';
    const cgroups = Cgroups.open({ home: options.home, enabled, limits: options.limits, log: options.log });
    // Started once the daemon sits in its own cgroup leaf: the spawner shares it, never a run's.
    const spawnerEnabled = (options.env.APPMESH_SPAWNER ?? '').trim().toLowerCase() !== 'off';
    // `APPMESH_LAUNCHER=sh`: the shell launcher even where appmesh-launch was built.
    const shellLauncher = (options.env.APPMESH_LAUNCHER ?? '').trim().toLowerCase() === 'sh';
    const tools = shellLauncher ? { ...launcherTools(), native: undefined } : launcherTools();
    const spawner = spawnerEnabled ? new Spawner(options.log, tools.native) : undefined;
    if (spawner) cgroups.useFolderRemover((folders) => spawner.removeFolders(folders));
    const containment = new Containment(cgroups, tools, spawner, shellLauncher);
    const { reason, mode, controllers } = cgroups.report;
    if (mode === 'none') options.log('warn', `process trees are not in cgroups (${reason}): stopping uses process groups, memory limits are polled, no per-user process limit`);
    else options.log('info', `process trees in cgroups ${mode} (${controllers.join(', ')})`);
    const launcher = containment.report().launcher;
    if (launcher.reason) options.log('warn', launcher.reason);
    if (launcher.program_reason) options.log('info', launcher.program_reason);
    return containment;
  }

  report(): ContainmentReport {
    const setpriv = this.tools.setpriv !== undefined;
    const native = this.tools.native !== undefined;
    return {
      ...Object.fromEntries([...this.sections].map(([name, report]) => [name, report()])),
      cgroups: { ...this.cgroups.report, controllers: [...this.cgroups.report.controllers] },
      launcher: {
        ...(native
          ? { program: 'appmesh-launch' as const }
          : this.shellChosen
          ? { program: 'sh' as const, program_reason: 'chosen (APPMESH_LAUNCHER=sh)' }
          : { program: 'sh' as const, program_reason: 'appmesh-launch not found (it is built by `npm run build` with a C compiler): runs start through /bin/sh and setpriv, one or two programs more per start' }),
        ...(native
          ? { privilege_drop: 'appmesh-launch' as const }
          : setpriv
          ? { privilege_drop: 'setpriv' as const }
          : { privilege_drop: 'spawn-options' as const, reason: 'setpriv (util-linux) not found: processes of other users enter their cgroup just after they start' }),
        ...this.spawnerReport(),
      },
    };
  }

  private spawnerReport(): Pick<ContainmentReport['launcher'], 'spawner' | 'spawner_reason' | 'spawner_program' | 'spawner_program_reason'> {
    if (!this.spawner) return { spawner: 'daemon', spawner_reason: 'switched off (APPMESH_SPAWNER=off)' };
    const reason = this.spawner.disabledReason;
    if (reason) return { spawner: 'daemon', spawner_reason: reason };
    const { program, reason: programReason } = this.spawner.forker;
    return { spawner: 'process', spawner_program: program === 'fork-server' ? 'appmesh-launch' : 'node', ...(programReason ? { spawner_program_reason: programReason } : {}) };
  }

  close(): void {
    this.spawner?.close();
    this.cgroups.close();
  }
}
