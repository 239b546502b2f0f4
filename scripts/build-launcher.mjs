#!/usr/bin/env node
// Compiles the run launcher and fork server (src/containment/native/*.c) into dist/native/, with the
// first C compiler found (CC, cc, gcc, clang): statically linked where the C library allows it
// (no dynamic loader at each start), dynamically otherwise. Without a compiler the daemon starts
// runs through /bin/sh and setpriv instead, and says so: the build does not fail.
//   node scripts/build-launcher.mjs --if-stale   compiles only when the source is newer
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sourceDir = join(root, 'src', 'containment', 'native');
const sources = readdirSync(sourceDir).filter((name) => name.endsWith('.c')).sort().map((name) => join(sourceDir, name));
const headers = readdirSync(sourceDir).filter((name) => name.endsWith('.h')).map((name) => join(sourceDir, name));
const target = join(root, 'dist', 'native', 'appmesh-launch');

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function compilers() {
  return [process.env.CC, 'cc', 'gcc', 'clang'].filter((name) => typeof name === 'string' && name.length > 0);
}

function compile() {
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}`;
  const flags = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', '-o', partial, ...sources];
  for (const compiler of compilers()) {
    for (const link of [['-static'], []]) {
      try {
        execFileSync(compiler, [...link, ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
        chmodSync(partial, 0o755);
        renameSync(partial, target);
        return `${compiler}${link.length ? ', static' : ', dynamic'}`;
      } catch {
        rmSync(partial, { force: true });
      }
    }
  }
  return undefined;
}

const target_mtime = mtime(target);
if (process.argv.includes('--if-stale') && target_mtime !== undefined && [...sources, ...headers].every((file) => target_mtime >= (mtime(file) ?? 0))) process.exit(0);
const built = compile();
if (built) console.log(`run launcher built (${built})`);
else console.warn('run launcher not built: no working C compiler (CC, cc, gcc, clang); runs start through /bin/sh and setpriv instead');
