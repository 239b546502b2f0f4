import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePort } from './free-port.js';
import { newHome } from './test-daemon.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };

/** The daemon npm start and the appmesh-ts command run. */
export const BUNDLE_MAIN = join(ROOT, PACKAGE.bin['appmesh-ts']!);

export interface BundledDaemon {
  child: ChildProcess;
  home: string;
  port: number;
  url: string;
  /** Everything it wrote so far (stdout and stderr). */
  output(): string;
  exited: Promise<number | null>;
}

export interface BundledDaemonOptions {
  password: string;
  /** Another copy of the bundle's main file, run by `node` with the daemon's flag. */
  main?: string;
  /** A home prepared beforehand (certificates...); else a new one. */
  home?: string;
  /** Settings over the defaults (free ports, the embedded broker on a port of its own). */
  env?: Record<string, string>;
}

/**
 * Starts a bundled daemon in its own process, as the appmesh-ts command is started: by its first
 * line, with the node found on the PATH, and nothing of the caller's own daemon settings (nor a
 * malloc setting from before its command line). Waiting for it to be ready is the caller's.
 */
export async function spawnBundledDaemon(options: BundledDaemonOptions): Promise<BundledDaemon> {
  const home = options.home ?? (await newHome());
  const port = await freePort();
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('APPMESH_') && name !== 'MALLOC_ARENA_MAX'));
  const env = {
    ...inherited,
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    APPMESH_HOME: home,
    APPMESH_ADMIN_PASSWORD: options.password,
    APPMESH_REST_RestListenPort: String(port),
    APPMESH_REST_RestTcpPort: String(await freePort()),
    APPMESH_REST_WebSocketPort: String(await freePort()),
    APPMESH_MQTT_EmbeddedBrokerPort: '0',
    ...options.env,
  };
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe'];
  const child = options.main ? spawn(process.execPath, ['--max-semi-space-size=1', '--interrupt-budget=135168', options.main], { env, stdio }) : spawn(BUNDLE_MAIN, [], { env, stdio });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, home, port, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}
