import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What is kept of a logon: the host and a token, never the password. */
export interface StoredSession {
  token: string;
  user: string;
  /** Epoch seconds. */
  expire_time?: number;
}

interface StoreFile {
  /** The host of the last logon: used when no -H is given. */
  current?: string;
  sessions: Record<string, StoredSession>;
}

/**
 * `$XDG_CONFIG_HOME/appmesh/`, else `~/.config/appmesh/` (XDG's default). Not `~/.appmesh/`: that
 * is the daemon's home by default, and a client's tokens do not belong in it.
 */
export function storeFolder(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'appmesh');
}

/** The per-user session file: mode 0600 in a 0700 folder, replaced whole on each change. */
export class TokenStore {
  readonly file: string;

  constructor(readonly folder = storeFolder()) {
    this.file = join(folder, 'session.json');
  }

  private read(): StoreFile {
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<StoreFile>;
      return { current: parsed.current, sessions: parsed.sessions && typeof parsed.sessions === 'object' ? parsed.sessions : {} };
    } catch {
      return { sessions: {} };
    }
  }

  private write(content: StoreFile): void {
    mkdirSync(this.folder, { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.${process.pid}.tmp`;
    // Created 0600 before any byte of a token is in it.
    writeFileSync(temporary, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.file);
  }

  currentHost(): string | undefined {
    return this.read().current;
  }

  get(host: string): StoredSession | undefined {
    return this.read().sessions[host];
  }

  put(host: string, session: StoredSession): void {
    const content = this.read();
    content.sessions[host] = session;
    content.current = host;
    this.write(content);
  }

  remove(host: string): void {
    const content = this.read();
    delete content.sessions[host];
    // The host stays the current one: the next logon goes there again.
    this.write(content);
  }
}
