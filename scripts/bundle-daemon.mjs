#!/usr/bin/env node
// Bundles the daemon into one folder of ESM files (dist/bundle/): start-up then loads a few large
// files instead of resolving and compiling hundreds of modules. Code splitting keeps the lazy
// `import()`s lazy (MCP SDK, prom-client, jose, transports...).
//   dist/bundle/main.js          the daemon (`npm start`, the appmesh-ts command)
//   dist/bundle/appmesh-mcp.js   the MCP stdio server
//   dist/bundle/io-helper.js     programs the daemon starts from their own file or text: each one
//   dist/bundle/copy-worker.js   self-contained, beside the chunks that look them up by
//                                `new URL('./<name>.js', import.meta.url)`
//   node scripts/bundle-daemon.mjs --if-stale   bundles only when a source is newer than the bundle
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const BUNDLE_DIR = join(root, 'dist', 'bundle');

/**
 * Node's flags for the daemon, in the appmesh-ts command's first line (and in `npm start` and the
 * container's entry point). A young generation of 1 MiB semi-spaces: about 12 MiB less resident
 * memory idle and 33 MiB less with 500 apps, REST throughput unchanged within noise
 * (bench/node-flags.ts). An interrupt budget twice V8's default: a function is handed to the
 * optimizing compiler after twice as much work, so the module loading around the start does not
 * bring that compiler's code (about 4 MiB of resident memory) into a daemon that then idles; a busy
 * daemon's hot code is optimized all the same, REST throughput within noise.
 */
export const DAEMON_NODE_FLAGS = '--max-semi-space-size=1 --interrupt-budget=135168';
/**
 * Its environment, set the same way: two malloc arenas instead of one per thread that ever
 * allocated (the thread pool's among them), which left idle resident memory anywhere between 65
 * and 71 MiB from one start to the next; with two, 64-66.5 MiB, REST throughput within the noise
 * (bench/node-flags.ts). The value it replaces travels beside it (APPMESH_INHERITED_MALLOC_ARENA_MAX,
 * empty when there was none): the processes the daemon starts get their environment as it was.
 */
export const DAEMON_ENVIRONMENT = 'APPMESH_INHERITED_MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX} MALLOC_ARENA_MAX=2';

// CommonJS dependencies inside an ESM bundle call `require` for Node's own modules.
export const REQUIRE_SHIM = "import { createRequire as __appmeshCreateRequire } from 'node:module'; const require = __appmeshCreateRequire(import.meta.url);";

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  absWorkingDir: root,
  logLevel: 'warning',
  // Less text for V8 to read and parse at each start; names stay (fastify and avvio read function names).
  minifyWhitespace: true,
  minifySyntax: true,
  external: [
    // Only used when running from the TypeScript sources.
    'typescript',
    // Optional native speed-ups of ws stay optional.
    'bufferutil',
    'utf-8-validate',
    // Fastify's schema compilers (ajv, fast-json-stringify) are required only when a route brings a
    // JSON schema: left out, they stay out of every start.
    '@fastify/ajv-compiler',
    '@fastify/fast-json-stringify-compiler',
  ],
  plugins: [onlyEnglishZodMessages(), loadedOnFirstUse(), schemaValidatorOnFirstUse()],
};

/**
 * Modules that packages `require` at load and the daemon may never use are loaded at their first
 * use instead: Node's modules for TLS, HTTP/2 and DNS (fastify's server module takes all of them,
 * prom-client's push gateway https; a daemon serving plain HTTP never touches them: about 3 MiB
 * of resident memory and a few ms of every start), and semver (fastify checks a plugin's declared
 * fastify version with it; no plugin the daemon registers declares one: its ~40 regular
 * expressions built at load cost 2-3 ms of every start). An ESM `import` of them is left as it is.
 */
const LAZY_REQUIRES = /^((node:)?(https|http2|tls|dns)|semver)$/;
function loadedOnFirstUse() {
  return {
    name: 'loaded-on-first-use',
    setup(plugin) {
      plugin.onResolve({ filter: LAZY_REQUIRES }, (args) =>
        args.kind === 'require-call' && /[\\/]node_modules[\\/]/.test(args.importer) ? { path: args.path, namespace: 'loaded-on-first-use', pluginData: { from: dirname(args.importer) } } : undefined,
      );
      plugin.onLoad({ filter: /.*/, namespace: 'loaded-on-first-use' }, (args) => ({
        loader: 'js',
        // Resolved as the package that asked for it would have.
        resolveDir: args.pluginData.from,
        contents: `let loaded;
const real = () => (loaded ??= require(${JSON.stringify(args.path)}));
module.exports = new Proxy({}, {
  get: (_, key) => real()[key],
  set: (_, key, value) => Reflect.set(real(), key, value),
  has: (_, key) => key in real(),
  ownKeys: () => Reflect.ownKeys(real()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
    return descriptor && { ...descriptor, configurable: true };
  },
  defineProperty: (_, key, descriptor) => Reflect.defineProperty(real(), key, descriptor),
  deleteProperty: (_, key) => Reflect.deleteProperty(real(), key),
});`,
      }));
    },
  };
}

/**
 * The MCP SDK's JSON Schema validator (ajv with its formats) is evaluated when a validator is first
 * made, not when the SDK loads: the daemon's MCP server validates only elicited input with it, which
 * its tools never ask for, and evaluating ajv was about a third of the SDK's load, paid by the first
 * session. The validator is the SDK's own, made on first use.
 */
const SDK_AJV_PROVIDER = /[\\/]@modelcontextprotocol[\\/]sdk[\\/]dist[\\/]esm[\\/]validation[\\/]ajv-provider\.js$/;
export function schemaValidatorOnFirstUse() {
  return {
    name: 'schema-validator-on-first-use',
    setup(plugin) {
      plugin.onResolve({ filter: /ajv-provider\.js$|validation\/ajv$/ }, async (args) => {
        if (args.pluginData?.real || args.kind !== 'import-statement') return undefined;
        const resolved = await plugin.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { real: true } });
        if (resolved.errors.length > 0 || !SDK_AJV_PROVIDER.test(resolved.path)) return undefined;
        return { path: resolved.path, namespace: 'schema-validator-on-first-use' };
      });
      plugin.onLoad({ filter: /.*/, namespace: 'schema-validator-on-first-use' }, (args) => ({
        loader: 'js',
        resolveDir: dirname(args.path),
        // A constructor that returns the real validator; `require` keeps the evaluation of its module lazy.
        contents: `export class AjvJsonSchemaValidator {
  constructor(ajv) {
    const { AjvJsonSchemaValidator: Real } = require(${JSON.stringify(args.path)});
    return new Real(ajv);
  }
}`,
      }));
    },
  };
}

/**
 * zod's error messages in English alone: the daemon never switches zod's locale, and the ~50 other
 * locales are text parsed at every start.
 */
function onlyEnglishZodMessages() {
  return {
    name: 'only-english-zod-messages',
    setup(plugin) {
      plugin.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
        /[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir) ? { path: join(args.resolveDir, '..', 'locales', 'en.js'), namespace: 'zod-locales' } : undefined,
      );
      plugin.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
        contents: `export { default as en } from ${JSON.stringify(args.path)};`,
        loader: 'js',
        resolveDir: root,
      }));
    },
  };
}

export async function bundleDaemon() {
  // Built aside, then swapped in: a daemon starting meanwhile finds the old bundle or the new one.
  const next = `${BUNDLE_DIR}.next-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  await build({
    ...common,
    outdir: next,
    entryPoints: { main: join(root, 'src', 'main.ts'), 'appmesh-mcp': join(root, 'tools', 'stdio.ts') },
    splitting: true,
    chunkNames: 'chunk-[hash]',
    banner: { js: REQUIRE_SHIM },
  });
  // Each MCP tool as tools/list shows it, made once here from the same sources (their tsc output,
  // built just before): a first MCP session does not convert every tool's schemas (20-35 ms).
  const { ALL_TOOLS } = await import(pathToFileURL(join(root, 'dist', 'tools', 'mcp-server.js')).href);
  const { listedTools } = await import(pathToFileURL(join(root, 'dist', 'tools', 'tool-kit.js')).href);
  writeFileSync(join(next, 'tool-listing.json'), JSON.stringify(listedTools(ALL_TOOLS)));
  const main = join(next, 'main.js');
  writeFileSync(main, readFileSync(main, 'utf8').replace(/^#!.*\n/, `#!/usr/bin/env -S ${DAEMON_ENVIRONMENT} node ${DAEMON_NODE_FLAGS}\n`));
  // Run from their own file or text: one file each, importing nothing but node: modules.
  const programs = await build({
    ...common,
    outdir: next,
    metafile: true,
    entryPoints: {
      'io-helper': join(root, 'src', 'files', 'io-helper.ts'),
      'copy-worker': join(root, 'src', 'supervisor', 'output', 'copy-worker.ts'),
    },
    splitting: false,
  });
  // They are run as one file (or its text): any import but Node's own would not be found.
  for (const [file, output] of Object.entries(programs.metafile.outputs)) {
    const foreign = output.imports.filter((imported) => !imported.external || !imported.path.startsWith('node:'));
    if (foreign.length > 0) throw new Error(`${file} must import nothing but node: modules, not ${foreign.map((imported) => imported.path).join(', ')}`);
  }
  const old = `${BUNDLE_DIR}.old-${process.pid}`;
  try {
    renameSync(BUNDLE_DIR, old);
  } catch {
    // No bundle yet.
  }
  renameSync(next, BUNDLE_DIR);
  rmSync(old, { recursive: true, force: true });
}

/** Newest modification time of the sources the bundle is made of (ours and the installed packages). */
function newestSource() {
  let newest = statSync(join(root, 'package-lock.json'), { throwIfNoEntry: false })?.mtimeMs ?? Infinity;
  for (const folder of ['src', 'tools', 'bridges']) {
    for (const entry of readdirSync(join(root, folder), { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
    }
  }
  return newest;
}

function isStale() {
  const built = statSync(join(BUNDLE_DIR, 'main.js'), { throwIfNoEntry: false })?.mtimeMs;
  return built === undefined || built < newestSource();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!process.argv.includes('--if-stale') || isStale()) await bundleDaemon();
}
