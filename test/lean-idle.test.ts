// What an idle daemon holds: the bundled daemon, started as the appmesh-ts command starts it, does
// not load the YAML library to read and write its own files (configuration, users and roles); a
// file edited by hand still loads, through the library, loaded then.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runningAsRoot } from '../src/auth/os-user.js';
import { BUNDLE_MAIN, spawnBundledDaemon, type BundledDaemon } from './helpers/bundled-daemon.js';
import { login, newHome, startTestDaemon, waitFor } from './helpers/test-daemon.js';

const PASSWORD = 'Lean-Idle-Password-1';
const BUNDLE_DIR = join(BUNDLE_MAIN, '..');

/** The bundle's files that hold the YAML library, found by their source maps. */
function yamlChunks(): string[] {
  return readdirSync(BUNDLE_DIR)
    .filter((name) => name.endsWith('.js.map'))
    .filter((name) => (JSON.parse(readFileSync(join(BUNDLE_DIR, name), 'utf8')) as { sources: string[] }).sources.some((source) => source.includes('node_modules/yaml/')))
    .map((name) => name.slice(0, -'.map'.length));
}

describe.runIf(existsSync(BUNDLE_MAIN))('an idle daemon', () => {
  let work: string;
  let home: string;
  const hookEnv = () => ({ NODE_OPTIONS: `--import ${join(work, 'register.mjs')}`, LOADED_MODULES_LOG: join(work, 'loaded.log') });

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'appmesh-lean-idle-'));
    home = await newHome();
    // Node's module hooks: every module the daemon loads is written down as it is resolved.
    await writeFile(join(work, 'register.mjs'), "import { register } from 'node:module';\nregister(new URL('./hooks.mjs', import.meta.url));\n");
    await writeFile(
      join(work, 'hooks.mjs'),
      "import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  const resolved = await next(specifier, context);\n  appendFileSync(process.env.LOADED_MODULES_LOG, resolved.url + '\\n');\n  return resolved;\n}\n",
    );
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  });

  /** Starts the bundled daemon on `home`, logs in, leaves it idle past its delayed start-up work, stops it; returns the bundle files it loaded. */
  async function startIdleStop(): Promise<string[]> {
    await rm(join(work, 'loaded.log'), { force: true });
    const daemon: BundledDaemon = await spawnBundledDaemon({ password: PASSWORD, home, env: hookEnv() });
    try {
      await waitFor(async () => (await fetch(`${daemon.url}/appmesh/readyz`).catch(() => undefined))?.status === 200, 20_000, 'readyz of the bundled daemon').catch((error: Error) => {
        throw new Error(`${error.message}: ${daemon.output()}`);
      });
      await login(daemon.url, 'admin', PASSWORD);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }
    const loaded = await readFile(join(work, 'loaded.log'), 'utf8');
    return loaded.split('\n').filter((url) => url.startsWith('file:')).map((url) => basename(new URL(url).pathname));
  }

  test('reads and writes its own files without the YAML library, on a first start and on a restart', async () => {
    const chunks = yamlChunks();
    expect(chunks.length, 'the YAML library is a file of the bundle of its own').toBeGreaterThan(0);
    const first = await startIdleStop();
    // The hooks saw the daemon's own files load.
    expect(first).toContain('main.js');
    expect(first.filter((file) => chunks.includes(file))).toEqual([]);
    const restarted = await startIdleStop();
    expect(restarted.filter((file) => chunks.includes(file))).toEqual([]);
  });

  test('a users file edited by hand is read through the library, and its users log in', async () => {
    const file = join(home, 'config', 'security.yaml');
    await writeFile(file, `# edited by hand\n${await readFile(file, 'utf8')}`);
    const loaded = await startIdleStop();
    expect(loaded.filter((name) => yamlChunks().includes(name)).length).toBeGreaterThan(0);
  });
});

// A root daemon gives every user an OS identity at each start: once they all have one, a restart
// has nothing to write.
describe.runIf(runningAsRoot())('a restart', () => {
  test('rewrites neither the users file nor the configuration when nothing changed', async () => {
    const daemon = await startTestDaemon();
    try {
      const files = ['security.yaml', 'config.yaml'].map((name) => join(daemon.home, 'config', name));
      const inodes = async () => Promise.all(files.map(async (file) => (await stat(file)).ino));
      const before = await inodes();
      await daemon.restart();
      expect(await inodes()).toEqual(before);
      // A change is still written.
      expect((await daemon.request('PUT', '/appmesh/user/lean', { body: { key: 'Lean-User-Password-1', group: 'dev', roles: ['view'] } })).status).toBe(200);
      const [usersFile] = await inodes();
      expect(usersFile).not.toBe(before[0]);
      await daemon.restart();
      expect((await inodes())[0]).toBe(usersFile);
    } finally {
      await daemon.stop();
    }
  });
});
