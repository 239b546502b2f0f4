#!/usr/bin/env node
// Bundles the plugin's script (src/plugin/, on the client library of src/client/) into one
// self-contained file inside the plugin: Claude Code copies the plugin folder alone into its cache.
//   npm run build:plugin            writes claude-plugin/scripts/appmesh-remote.mjs
//   node scripts/bundle-plugin.mjs --check   exits 1 when the committed file is stale
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE_PATH = join(root, 'claude-plugin', 'scripts', 'appmesh-remote.mjs');

export async function bundlePlugin() {
  const result = await build({
    entryPoints: [join(root, 'src', 'plugin', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    legalComments: 'none',
    absWorkingDir: root,
    banner: { js: '#!/usr/bin/env node\n// Generated from src/plugin/ by `npm run build:plugin`: edit the sources, not this file.' },
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = await bundlePlugin();
  if (process.argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(BUNDLE_PATH, 'utf8');
    } catch {}
    if (committed !== text) {
      console.error('claude-plugin/scripts/appmesh-remote.mjs is stale: run `npm run build:plugin` and commit it');
      process.exit(1);
    }
  } else {
    writeFileSync(BUNDLE_PATH, text, { mode: 0o755 });
    console.log(`wrote ${BUNDLE_PATH} (${text.length} bytes)`);
  }
}
