import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../store/atomic-file.js';
import { blockYaml, parseYaml } from '../store/block-yaml.js';
import { Serial } from '../util/serial.js';
import { ADMIN_USER } from './exec-user.js';
import { ALL_PERMISSIONS, DEFAULT_ROLES } from './permissions.js';
import { SANDBOX_PROFILES } from '../supervisor/app-definition.js';

const userSchema = z.object({
  email: z.string().default(''),
  group: z.string().default(''),
  exec_user: z.string().default(''),
  key: z.string().default(''),
  locked: z.boolean().default(false),
  mfa_enabled: z.boolean().default(false),
  mfa_key: z.string().default(''),
  token_epoch: z.number().int().min(0).default(0),
  /** Millisecond precision of `token_epoch`: a token issued in the same second after a change stays valid. */
  token_epoch_ms: z.number().int().min(0).optional(),
  /** A new TOTP secret waiting for its first code; the active one stays in force until then. */
  mfa_pending_key: z.string().optional(),
  /** Last TOTP time step accepted, so a code cannot be used twice. */
  mfa_last_step: z.number().int().min(0).optional(),
  metadata: z.string().default(''),
  roles: z.array(z.string()).default([]),
  /** The sandbox of this user's apps and runs that name none; set by admin, and `isolated` is a floor. */
  sandbox: z.enum(SANDBOX_PROFILES).optional(),
  /** Root daemon: the uid (and gid) of the OS identity of its own that this user's work runs as. */
  os_uid: z.number().int().positive().optional(),
});

const securitySchema = z.object({
  EncryptKey: z.boolean().default(true),
  Users: z.record(z.string(), userSchema).default({}),
  Roles: z.record(z.string(), z.array(z.string())).default({}),
  /** Next uid to hand out: only ever grows, so a uid is never given to a second user. */
  NextOsUid: z.number().int().positive().optional(),
});

export type StoredUser = z.infer<typeof userSchema>;
export type SecurityDocument = z.infer<typeof securitySchema>;

/**
 * Ends every token of `user` issued up to `nowMs`, refresh tokens included (a lock, a password
 * change, a logoff of all sessions, a new user of an old name). Tokens carry their issue time, so
 * this works across the nodes of a cluster, where a user record is not shared.
 */
export function endTokensIssuedUntil(user: StoredUser, nowMs = Date.now()): void {
  user.token_epoch = Math.floor(nowMs / 1000);
  user.token_epoch_ms = nowMs;
}

export class SecurityStoreError extends Error {}

/**
 * Users and roles, kept in memory and written atomically (mode 0600) on every change.
 * Permissions are always computed from the current roles, so role edits apply at once.
 */
const NO_PERMISSIONS: ReadonlySet<string> = new Set();

export class SecurityStore {
  private readonly writes = new Serial();
  /** Runs inside every change before it is saved (gives new users their OS identity). */
  private beforeSave?: (doc: SecurityDocument) => void;

  /**
   * @param onDisk the file's text as last read or written: a change that leaves the document as it
   *   is writes nothing (a root daemon's start applies its identity step to every user: at a restart,
   *   two fsyncs fewer on the way to readyz).
   */
  private constructor(private readonly file: string, private doc: SecurityDocument, private onDisk = '') {}

  static async open(file: string): Promise<SecurityStore | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let raw: unknown;
    try {
      // Read directly when it is as the daemon writes it, else by the YAML library.
      raw = await parseYaml(text);
    } catch (error) {
      throw new SecurityStoreError(`${file} is not valid YAML: ${(error as Error).message}`);
    }
    const result = securitySchema.safeParse(raw ?? {});
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new SecurityStoreError(`${file}: ${issue.path.join('.')}: ${issue.message}`);
    }
    return new SecurityStore(file, result.data, text);
  }

  /** A new store with the default roles and one administrator. */
  static async create(file: string, adminPasswordHash: string): Promise<SecurityStore> {
    const doc: SecurityDocument = {
      EncryptKey: true,
      Users: {
        admin: userSchema.parse({ group: 'admin', key: adminPasswordHash, roles: ['manage', 'view', 'shell', 'usermgr'] }),
      },
      Roles: Object.fromEntries(Object.entries(DEFAULT_ROLES).map(([name, permissions]) => [name, [...permissions]])),
    };
    const store = new SecurityStore(file, doc);
    await store.save();
    return store;
  }

  get encryptKey(): boolean {
    return this.doc.EncryptKey;
  }

  user(name: string): StoredUser | undefined {
    return Object.hasOwn(this.doc.Users, name) ? this.doc.Users[name] : undefined;
  }

  userNames(): string[] {
    return Object.keys(this.doc.Users);
  }

  roles(): Readonly<Record<string, readonly string[]>> {
    return this.doc.Roles;
  }

  /**
   * What a user may do. `admin` holds every permission whatever its roles say: it cannot be locked out.
   * Worked out once per user and version of the document: a change makes a new document (see
   * `update`), so a role or user changed or removed counts from the next call on.
   */
  permissionsOf(userName: string): ReadonlySet<string> {
    // Only users of the document are kept: as many sets as users, whoever asks.
    if (!this.user(userName)) return NO_PERMISSIONS;
    let known = this.permissionSets.get(this.doc);
    if (!known) this.permissionSets.set(this.doc, (known = new Map()));
    let permissions = known.get(userName);
    if (!permissions) known.set(userName, (permissions = this.workOutPermissions(userName)));
    return permissions;
  }

  /** Permission sets by document version (a replaced document takes its sets with it). */
  private readonly permissionSets = new WeakMap<SecurityDocument, Map<string, ReadonlySet<string>>>();

  private workOutPermissions(userName: string): ReadonlySet<string> {
    if (userName === ADMIN_USER && this.user(userName)) return new Set(ALL_PERMISSIONS);
    const user = this.user(userName);
    const permissions = new Set<string>();
    for (const role of user?.roles ?? []) {
      for (const permission of (Object.hasOwn(this.doc.Roles, role) ? this.doc.Roles[role] : [])) permissions.add(permission);
    }
    return permissions;
  }

  /** Applies `change` to a copy, saves it, and only then makes it current. */
  async update(change: (doc: SecurityDocument) => void): Promise<void> {
    await this.writes.run(async () => {
      const next = structuredClone(this.doc);
      change(next);
      this.beforeSave?.(next);
      const validated = securitySchema.parse(next);
      const text = blockYaml(validated);
      if (text === this.onDisk) return;
      await writeFileAtomic(this.file, text, { mode: 0o600 });
      this.onDisk = text;
      this.doc = validated;
    });
  }

  /**
   * Installs a step applied to every change in the same atomic write, then applies it once to the
   * current document (users created before the step existed).
   */
  async useBeforeSave(step: (doc: SecurityDocument) => void): Promise<void> {
    this.beforeSave = step;
    await this.update(() => undefined);
  }

  private async save(): Promise<void> {
    const text = blockYaml(this.doc);
    await writeFileAtomic(this.file, text, { mode: 0o600 });
    this.onDisk = text;
  }
}
