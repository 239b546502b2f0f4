#!/usr/bin/env node
// Validates the Claude Code plugin and the repository's marketplace with the real Claude Code CLI:
//   1. `claude plugin validate --strict claude-plugin`
//   2. `claude plugin validate .`               (the marketplace at .claude-plugin/marketplace.json)
//   3. `claude plugin marketplace add <repo>` and `claude plugin install appmesh@<marketplace>`
//      in a throwaway HOME, then `claude plugin list` must show the plugin enabled.
//
//   npm run validate:plugin
//
// The CLI package is large (a native binary of several hundred MB), so it is not a dependency of
// the project: it is installed once from the npm registry into the system's temporary folder
// (CLAUDE_CODE_DIR to choose another) and reused. Nothing else touches the network: the CLI runs
// with its auto-updater and non-essential traffic off, and this check is not part of `npm test`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLAUDE_CODE = '@anthropic-ai/claude-code@2.1.332';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pluginDir = join(root, 'claude-plugin');
const installDir = process.env.CLAUDE_CODE_DIR || join(tmpdir(), `appmesh-claude-code-${CLAUDE_CODE.split('@').pop()}`);
const claude = join(installDir, 'node_modules', '.bin', 'claude');

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, ...options });
  return { code: result.status ?? 1, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
}

function installCli() {
  if (existsSync(claude)) return;
  console.log(`Installing ${CLAUDE_CODE} into ${installDir} (once)...`);
  mkdirSync(installDir, { recursive: true });
  writeFileSync(join(installDir, 'package.json'), '{"name":"claude-code-cli","private":true}\n');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = run(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error', CLAUDE_CODE], { cwd: installDir });
  if (result.code !== 0 || !existsSync(claude)) {
    console.error(result.output);
    throw new Error(`could not install ${CLAUDE_CODE}`);
  }
}

const failures = [];
function check(title, args, home, expect) {
  const result = run(claude, args, {
    cwd: root,
    env: { ...process.env, HOME: home, DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' },
  });
  const ok = result.code === 0 && (!expect || expect(result.output));
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${title}`);
  if (!ok) {
    failures.push(title);
    console.log(result.output.trim().replace(/^/gm, '     '));
  }
}

installCli();
const home = mkdtempSync(join(tmpdir(), 'appmesh-claude-home-'));
try {
  const marketplace = JSON.parse(readFileSync(join(root, '.claude-plugin', 'marketplace.json'), 'utf8')).name;
  check('claude plugin validate --strict claude-plugin', ['plugin', 'validate', '--strict', pluginDir], home);
  check('claude plugin validate . (marketplace)', ['plugin', 'validate', root], home);
  check('claude plugin marketplace add <repository>', ['plugin', 'marketplace', 'add', root], home);
  check(`claude plugin install appmesh@${marketplace}`, ['plugin', 'install', `appmesh@${marketplace}`], home);
  check('claude plugin list shows appmesh enabled', ['plugin', 'list'], home, (output) => new RegExp(`appmesh@${marketplace}[\\s\\S]*?enabled`).test(output));
} finally {
  rmSync(home, { recursive: true, force: true });
}
if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('\nThe plugin and the marketplace are valid.');
