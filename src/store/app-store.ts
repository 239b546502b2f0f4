import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { writeFileAtomic } from './atomic-file.js';
import type { AppDefinition } from '../supervisor/app-definition.js';
import { parseAppDefinition } from '../supervisor/app-definition.js';
import type { SecretBox } from '../auth/secret-box.js';

export interface StoredAppLoad {
  apps: AppDefinition[];
  /** Files that could not be read or validated: reported, left in place, never overwritten. */
  rejected: { file: string; reason: string }[];
}

/** Managed app definitions, one YAML file per app under `<home>/apps`, `sec_env` encrypted. */
export class AppStore {
  constructor(private readonly dir: string, private readonly secrets: SecretBox) {}

  private file(name: string): string {
    return join(this.dir, `${name}.yaml`);
  }

  async save(definition: AppDefinition): Promise<void> {
    const { sec_env: secEnv, ...rest } = definition;
    const stored: Record<string, unknown> = { ...rest };
    if (secEnv && Object.keys(secEnv).length > 0) stored.sec_env = this.secrets.encryptMap(definition.owner ?? '', secEnv);
    await writeFileAtomic(this.file(definition.name), stringify(stored), { mode: 0o600 });
  }

  async remove(name: string): Promise<void> {
    await unlink(this.file(name)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  async loadAll(): Promise<StoredAppLoad> {
    const result: StoredAppLoad = { apps: [], rejected: [] };
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((name) => /\.(ya?ml|json)$/.test(name) && !name.startsWith('.'));
    } catch {
      return result;
    }
    for (const name of names.sort()) {
      const file = join(this.dir, name);
      try {
        const raw = parse(await readFile(file, 'utf8')) as Record<string, unknown> | null;
        if (!raw || typeof raw !== 'object') throw new Error('not a mapping');
        const owner = typeof raw.owner === 'string' ? raw.owner : undefined;
        const secEnv = raw.sec_env as Record<string, string> | undefined;
        const parsed = parseAppDefinition({ ...raw, sec_env: undefined }, { registerTime: typeof raw.register_time === 'number' ? raw.register_time : undefined });
        const definition: AppDefinition = { ...parsed, name: parsed.name!, owner };
        if (secEnv && typeof secEnv === 'object') definition.sec_env = this.secrets.decryptMap(owner ?? '', secEnv);
        result.apps.push(definition);
      } catch (error) {
        result.rejected.push({ file: name, reason: (error as Error).message });
      }
    }
    return result;
  }
}
