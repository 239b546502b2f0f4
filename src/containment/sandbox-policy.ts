import { statSync } from 'node:fs';
import { ADMIN_USER } from '../auth/exec-user.js';
import { badRequest } from '../service/errors.js';
import type { AppDefinition, SandboxProfile } from '../supervisor/app-definition.js';
import { sandboxArgv, sandboxSupport } from './sandbox.js';

export interface SandboxPolicySettings {
  /** `BaseConfig.DefaultSandbox`, read live. */
  globalDefault: () => SandboxProfile;
  /** A user's own default, set by admin. */
  userDefault: (owner: string) => SandboxProfile | undefined;
  bwrapPath: string;
  /** Folders no sandboxed run sees (the daemon's home and work folder). */
  hiddenDirs: readonly string[];
}

export type SandboxRequest = Pick<AppDefinition, 'sandbox' | 'sandbox_network'>;

export interface SandboxContext {
  workingDir: string;
  /** The home of the account the run uses. */
  home?: string;
  /** The uid the run uses: only folders it owns are writable. Absent: the working directory is. */
  uid?: number;
}

export interface SandboxChoice {
  profile: SandboxProfile;
  network: boolean;
}

/** Thrown at start time when the chosen profile cannot be honoured here. */
export class SandboxUnavailableError extends Error {}

/**
 * Which sandbox an owner's app or run gets: its own `sandbox`, else the owner's default, else
 * `BaseConfig.DefaultSandbox`. An owner whose default (set by admin) is `isolated` cannot opt out:
 * that default is a floor for everyone but admin.
 */
export class SandboxPolicy {
  constructor(private readonly settings: SandboxPolicySettings) {}

  choose(owner: string | undefined, request: SandboxRequest): SandboxChoice {
    const userDefault = owner === undefined ? undefined : this.settings.userDefault(owner);
    const profile = this.floored(owner, userDefault) ? 'isolated' : (request.sandbox ?? userDefault ?? this.settings.globalDefault());
    return { profile, network: profile === 'isolated' ? request.sandbox_network === true : true };
  }

  /** At registration and run time: a request that cannot be honoured is refused (400), never weakened. */
  check(owner: string, request: SandboxRequest): void {
    const userDefault = this.settings.userDefault(owner);
    if (request.sandbox === 'none' && this.floored(owner, userDefault)) {
      throw badRequest(`User ${owner} runs in the isolated sandbox (set by ${ADMIN_USER}): sandbox 'none' is not allowed`);
    }
    const choice = this.choose(owner, request);
    if (choice.profile === 'none' && request.sandbox_network === false) {
      throw badRequest("Invalid application field 'sandbox_network': only an isolated sandbox can turn the network off");
    }
    if (choice.profile === 'isolated') {
      const support = sandboxSupport(this.settings.bwrapPath);
      if (!support.available) throw badRequest(`The isolated sandbox is not available on this host: ${support.reason}`);
    }
  }

  /**
   * The argv prefix for a start, or undefined without a sandbox. Throws when `isolated` cannot be
   * honoured (the start fails; the command never runs unconfined instead).
   */
  argv(owner: string | undefined, request: SandboxRequest, context: SandboxContext): string[] | undefined {
    const choice = this.choose(owner, request);
    if (choice.profile === 'none') return undefined;
    const support = sandboxSupport(this.settings.bwrapPath);
    if (!support.available) throw new SandboxUnavailableError(`the isolated sandbox is not available: ${support.reason}`);
    // Writable only where the run's own account owns the folder: a world-writable folder of
    // someone else's (a shared drop, another user's) stays read-only, as the rest of the system.
    const owned = (dir: string) => context.uid === undefined || ownerOf(dir) === context.uid;
    return sandboxArgv({
      bwrapPath: this.settings.bwrapPath,
      workingDir: context.workingDir,
      workingDirWritable: owned(context.workingDir),
      writableDirs: context.home && ownerOf(context.home) !== undefined && owned(context.home) ? [context.home] : [],
      hiddenDirs: this.settings.hiddenDirs,
      network: choice.network,
      blockNestedUserns: support.blocksNestedUserns !== false,
    });
  }

  /** For `GET /appmesh/resources`: whether `isolated` can be honoured, and why not. */
  status(): { isolated: boolean; reason?: string; version?: string; nested_user_namespaces?: 'blocked' | 'allowed' } {
    const support = sandboxSupport(this.settings.bwrapPath);
    return {
      isolated: support.available,
      ...(support.reason ? { reason: support.reason } : {}),
      ...(support.version ? { version: support.version } : {}),
      ...(support.available ? { nested_user_namespaces: support.blocksNestedUserns ? 'blocked' : 'allowed' } : {}),
    };
  }

  private floored(owner: string | undefined, userDefault: SandboxProfile | undefined): boolean {
    return userDefault === 'isolated' && owner !== ADMIN_USER;
  }
}

/** The owner's uid of a directory; undefined when it is not one. */
function ownerOf(path: string): number | undefined {
  try {
    const stats = statSync(path);
    return stats.isDirectory() ? stats.uid : undefined;
  } catch {
    return undefined;
  }
}
