import { execFileSync, spawnSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isIgnored, parseIgnoreFile } from '../src/plugin/ignore-rules.js';
import { matchesAny, secretRules } from '../src/plugin/never-synced.js';

const root = join(import.meta.dirname, '..');
const plugin = join(root, 'claude-plugin');

describe('the plugin folder', () => {
  test('its script is the bundle of src/plugin/ (rebuilt with `npm run build:plugin`)', () => {
    const check = spawnSync(process.execPath, [join(root, 'scripts', 'bundle-plugin.mjs'), '--check'], { encoding: 'utf8' });
    if (check.status !== 0) expect.fail(check.stderr || 'claude-plugin/scripts/appmesh-remote.mjs is stale: run `npm run build:plugin` and commit it');
  });

  test('the script imports nothing but Node itself: the plugin is copied alone into Claude Code', async () => {
    const text = await readFile(join(plugin, 'scripts', 'appmesh-remote.mjs'), 'utf8');
    const imports = [...text.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((name) => !name.startsWith('node:'))).toEqual([]);
    expect(execFileSync(process.execPath, [join(plugin, 'scripts', 'appmesh-remote.mjs'), 'help'], { encoding: 'utf8' })).toContain('sync-exec');
  });

  test('every slash command runs the bundled script, and the manifest names author, repository and license', async () => {
    const manifest = JSON.parse(await readFile(join(plugin, '.claude-plugin', 'plugin.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.name).toBe('appmesh');
    expect(manifest).toHaveProperty('author.name');
    expect(manifest.repository).toMatch(/^https:\/\//);
    expect(manifest.license).toBe('MIT');
    const commands = (await readdir(join(plugin, 'commands'))).map((file) => file.replace(/\.md$/, '')).sort();
    expect(commands).toEqual(['cleanup', 'deploy', 'exec', 'output', 'run-script', 'status', 'sync', 'sync-exec']);
    for (const command of commands) {
      const text = await readFile(join(plugin, 'commands', `${command}.md`), 'utf8');
      expect(text).toContain(`node "\${CLAUDE_PLUGIN_ROOT}/scripts/appmesh-remote.mjs" ${command}`);
    }
    const marketplace = JSON.parse(await readFile(join(root, '.claude-plugin', 'marketplace.json'), 'utf8')) as { plugins: Array<{ name: string; source: string }> };
    expect(marketplace.plugins).toContainEqual(expect.objectContaining({ name: 'appmesh', source: './claude-plugin' }));
  });
  test('the SessionStart hook runs as Claude Code runs it, and says what the configuration lacks', async () => {
    const hooks = JSON.parse(await readFile(join(plugin, 'hooks', 'hooks.json'), 'utf8')) as { hooks: { SessionStart: Array<{ hooks: Array<{ type: string; command: string }> }> } };
    const [hook] = hooks.hooks.SessionStart[0].hooks;
    expect(hook.type).toBe('command');
    const output = execFileSync('sh', ['-c', hook.command], { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmpdir(), CLAUDE_PLUGIN_ROOT: plugin, APPMESH_URL: 'http://127.0.0.1:6060', APPMESH_TOKEN: 'x' } });
    expect(output).toContain('App Mesh remote sandbox: node http://127.0.0.1:6060, a token (APPMESH_TOKEN)');
    expect(output).toContain('APPMESH_WORKSPACE is not set');
    expect(output).not.toContain('APPMESH_URL (or APPMESH_HOST) is not set');
  });
});

describe('.gitignore patterns', () => {
  const ignored = (text: string, path: string, isDirectory = false) => isIgnored([{ base: '', rules: parseIgnoreFile(text) }], path, isDirectory);

  test('names match at any depth; a slash anchors to the folder', () => {
    expect(ignored('*.log', 'a/b/c.log')).toBe(true);
    expect(ignored('/top.txt', 'top.txt')).toBe(true);
    expect(ignored('/top.txt', 'sub/top.txt')).toBe(false);
    expect(ignored('doc/*.md', 'doc/a.md')).toBe(true);
    expect(ignored('doc/*.md', 'doc/sub/a.md')).toBe(false);
  });

  test('** spans folders, a trailing slash means folders only, ! re-includes, # and blanks are nothing', () => {
    expect(ignored('**/cache/**', 'x/y/cache/z/file')).toBe(true);
    expect(ignored('a/**/b', 'a/b')).toBe(true);
    expect(ignored('a/**/b', 'a/x/y/b')).toBe(true);
    expect(ignored('out/', 'out', true)).toBe(true);
    expect(ignored('out/', 'out', false)).toBe(false);
    expect(ignored('*.log\n!keep.log', 'keep.log')).toBe(false);
    expect(ignored('# comment\n\n\\#hash', '#hash')).toBe(true);
    expect(ignored('file[0-9].txt', 'file7.txt')).toBe(true);
    expect(ignored('file?.txt', 'file/.txt')).toBe(false);
  });

  test('nested files apply below their folder only', () => {
    const scopes = [{ base: '', rules: parseIgnoreFile('*.tmp') }, { base: 'src', rules: parseIgnoreFile('gen.txt\n!keep.tmp') }];
    expect(isIgnored(scopes, 'src/gen.txt', false)).toBe(true);
    expect(isIgnored(scopes, 'gen.txt', false)).toBe(false);
    expect(isIgnored(scopes, 'src/keep.tmp', false)).toBe(false);
    expect(isIgnored(scopes, 'other.tmp', false)).toBe(true);
  });

  test('secrets are recognised wherever they are', () => {
    for (const path of ['.env', 'app/.env.local', 'tls/server.key', 'cert.pem', 'home/.ssh/id_rsa', 'id_ed25519.pub', 'a.p12', 'b.pfx', 'aws/credentials', 'gcp/credentials.json', '.netrc', '.npmrc']) {
      expect(matchesAny(secretRules, path, false), path).toBe(true);
    }
    for (const path of ['environment.ts', 'keys.ts', 'src/envelope.txt', 'README.md']) expect(matchesAny(secretRules, path, false), path).toBe(false);
  });
});
