import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { login, waitFor } from './helpers/test-daemon.js';
import { mcpClient, ok } from './helpers/mcp-client.js';
import { spawnBundledDaemon, type BundledDaemon } from './helpers/bundled-daemon.js';
import { MAX_OUTPUT_READ_BYTES, OutputFiles } from '../src/supervisor/output/output-files.js';

// A large output read as the MCP resource, several times at once: the daemon's memory must not
// grow with the output's size. The daemon (the bundle, as npm start runs it) runs in a process of
// its own, measured alone.

const MiB = 1024 * 1024;
const RSS_BOUND = 100 * MiB;
const READERS = 6;
/**
 * Six readers paging through the whole output are served 6 × 58 MiB: a daemon holding what it
 * serves would pass 348 MiB. Below that, the peak is the pages' transient copies (file, text,
 * JSON-RPC body, socket) waiting for V8's next full collection, which measured 70-124 MiB.
 */
const PAGING_RSS_BOUND = 170 * MiB;

interface Page {
  contents: { uri: string; text?: string; blob?: string; _meta?: { [key: string]: unknown } }[];
}


async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/** The daemon's peak RSS while `work` runs, sampled every 10 ms. */
async function peakRss<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; before: number; peak: number }> {
  const before = await rssOf(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await rssOf(pid).catch(() => 0));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  let result: T;
  try {
    result = await work();
  } finally {
    sampling = false;
    await sampler;
  }
  return { result, before, peak: Math.max(peak, await rssOf(pid)) };
}

const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;

const PASSWORD = 'Output-Memory-Password-1';
let daemon: BundledDaemon & { pid: number };
let client: Client;
let scratch: string;
beforeAll(async () => {
  const started = await spawnBundledDaemon({ password: PASSWORD });
  daemon = { ...started, pid: started.child.pid! };
  await waitFor(async () => (await fetch(`${daemon.url}/appmesh/readyz`).catch(() => undefined))?.status === 200, 20_000, 'readyz of the daemon');
  client = await mcpClient(daemon.url, await login(daemon.url, 'admin', PASSWORD));
  scratch = await mkdtemp(join(tmpdir(), 'appmesh-output-memory-'));
});
afterAll(async () => {
  await client?.close();
  if (daemon) {
    daemon.child.kill('SIGTERM');
    await daemon.exited;
    await rm(daemon.home, { recursive: true, force: true });
  }
  await rm(scratch, { recursive: true, force: true });
});

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads a resource page after page (following the continuation), hashing as it goes. */
async function readAll(uri: string): Promise<{ hash: string; bytes: number; pages: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let pages = 0;
  let next: string | undefined = uri;
  while (next) {
    const page = (await client.readResource({ uri: next })) as Page;
    const [content] = page.contents;
    const data = content.text !== undefined ? Buffer.from(content.text) : Buffer.from(content.blob ?? '', 'base64');
    hash.update(data);
    bytes += data.length;
    pages++;
    next = typeof content._meta?.next === 'string' ? content._meta.next : undefined;
  }
  return { hash: hash.digest('hex'), bytes, pages };
}

describe('the output resource', () => {
  let resource: string;
  let size: number;
  let expected: string;
  beforeAll(async () => {
    const file = join(scratch, 'big.txt');
    const run = await ok<{ status: string; output_resource: string; output_bytes: number }>(client, 'run_command', {
      command: `head -c 45000000 /dev/urandom | base64 -w 100 > ${file}; cat ${file}`, yield_ms: 60_000, output_budget_bytes: 1024,
    });
    expect(run.status).toBe('exited');
    size = (await stat(file)).size;
    expect(size).toBeGreaterThan(60_000_000);
    expect(run.output_bytes).toBe(size);
    expected = await sha256(file);
    resource = run.output_resource;
  }, 60_000);

  test(`${READERS} concurrent reads of a 60 MB output keep the daemon's RSS growth under ${RSS_BOUND / MiB} MiB`, async () => {
    const { result: pages, before, peak } = await peakRss(daemon.pid, () => Promise.all(Array.from({ length: READERS }, () => client.readResource({ uri: resource }) as Promise<Page>)));
    console.log(`output resource: ${READERS} concurrent reads of a ${mib(size)} output: daemon RSS ${mib(before)} -> peak ${mib(peak)} (+${mib(peak - before)})`);
    expect(peak - before).toBeLessThan(RSS_BOUND);
    for (const page of pages) {
      expect(page.contents[0]._meta?.total_bytes).toBe(size);
      expect(page.contents[0]._meta?.next).toBe(`${resource}?cursor=${page.contents[0]._meta?.next_cursor}`);
    }
  }, 60_000);

  test(`${READERS} readers paging through all of it at once: byte-exact, and the daemon's RSS growth stays under ${PAGING_RSS_BOUND / MiB} MiB`, async () => {
    const started = Date.now();
    const { result: results, before, peak } = await peakRss(daemon.pid, () => Promise.all(Array.from({ length: READERS }, () => readAll(resource))));
    console.log(
      `output resource: ${READERS} readers paging through ${mib(size)} (${results[0].pages} pages each) in ${Date.now() - started} ms: ` +
        `daemon RSS ${mib(before)} -> peak ${mib(peak)} (+${mib(peak - before)})`,
    );
    for (const result of results) expect(result).toMatchObject({ hash: expected, bytes: size });
    expect(peak - before).toBeLessThan(PAGING_RSS_BOUND);
  }, 120_000);
});

describe('output reads', () => {
  test('one read never holds more than MAX_OUTPUT_READ_BYTES, whatever the caller asks; paging goes on from nextPosition', async () => {
    const files = new OutputFiles(scratch, 'capped');
    const data = Buffer.alloc(MAX_OUTPUT_READ_BYTES + 12345, 'x');
    await writeFile(files.path(0), data);
    const first = await files.read(0, 0, Number.MAX_SAFE_INTEGER);
    expect(first).toMatchObject({ nextPosition: MAX_OUTPUT_READ_BYTES, size: data.length });
    expect(first!.data.length).toBe(MAX_OUTPUT_READ_BYTES);
    const rest = await files.read(0, first!.nextPosition, Number.MAX_SAFE_INTEGER);
    expect(rest).toMatchObject({ nextPosition: data.length, size: data.length });
    expect(rest!.data.length).toBe(12345);
  });
});
