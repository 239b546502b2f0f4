import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseYaml } from './block-yaml.js';
import { flatYaml } from './flat-yaml.js';
import { JournaledFolder, type JournalStats } from './journaled-folder.js';
import type { AppDefinition } from '../supervisor/app-definition.js';
import { parseAppDefinition } from '../supervisor/app-definition.js';
import type { SecretBox } from '../auth/secret-box.js';

export interface StoredAppLoad {
  apps: AppDefinition[];
  /** Files that could not be read or validated: reported, left in place, never overwritten. */
  rejected: { file: string; reason: string }[];
}

/**
 * Managed app definitions, one YAML file per app under `<home>/apps`, `sec_env` encrypted.
 * Changes made together share one durable write (group commit, see JournaledFolder).
 */
export class AppStore {
  private readonly folder: JournaledFolder;

  constructor(private readonly dir: string, private readonly secrets: SecretBox) {
    this.folder = new JournaledFolder(dir, (name) => `${name}.yaml`);
  }

  /** How many durable writes carried how many changes (group commit at work). */
  get stats(): Readonly<JournalStats> {
    return this.folder.stats;
  }

  /**
   * Resolves once the definition is durable. `onDurable` runs at that moment, in the order of the
   * calls, so what the caller keeps in memory changes in the same order as the disk.
   */
  save(definition: AppDefinition, onDurable?: () => void): Promise<void> {
    return this.folder.set(definition.name, this.serialize(definition), onDurable);
  }

  /** Several definitions in one durable write; `onDurable` runs once all of them are durable. */
  saveMany(definitions: readonly AppDefinition[], onDurable?: () => void): Promise<void> {
    return this.folder.setMany(definitions.map((definition) => [definition.name, this.serialize(definition)] as const), onDurable);
  }

  remove(name: string, onDurable?: () => void): Promise<void> {
    return this.folder.set(name, null, onDurable);
  }

  /** Several removals in one durable write. */
  removeMany(names: readonly string[], onDurable?: () => void): Promise<void> {
    return this.folder.setMany(names.map((name) => [name, null] as const), onDurable);
  }

  private serialize(definition: AppDefinition): string {
    const { sec_env: secEnv, ...rest } = definition;
    const stored: Record<string, unknown> = { ...rest };
    if (secEnv && Object.keys(secEnv).length > 0) stored.sec_env = this.secrets.encryptMap(definition.owner ?? '', secEnv);
    return flatYaml(stored);
  }

  /** Waits for the writes under way and leaves the folder without journals. */
  close(): Promise<void> {
    return this.folder.close();
  }

  async loadAll(): Promise<StoredAppLoad> {
    const result: StoredAppLoad = { apps: [], rejected: [] };
    result.rejected.push(...(await this.folder.recover()));
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((name) => /\.(ya?ml|json)$/.test(name) && !name.startsWith('.'));
    } catch {
      return result;
    }
    for (const name of names.sort()) {
      const file = join(this.dir, name);
      try {
        const raw = (await parseYaml(await readFile(file, 'utf8'))) as Record<string, unknown> | null;
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
