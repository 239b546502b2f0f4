import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';
import { mcpClient } from './helpers/mcp-client.js';

// Resources come in pages of bounded size; text pages end on character boundaries, binary data
// comes back byte-exact, and a bad cursor is the caller's mistake.

interface Content {
  uri: string;
  text?: string;
  blob?: string;
  _meta?: { next?: string; cursor?: number; total_bytes?: number };
}

let d: TestDaemon;
let client: Client;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'appmesh-pages-'));
  d = await startTestDaemon({ env: { APPMESH_REST_FileAllowedBaseDir: dir } });
  client = await mcpClient(d.url, d.token);
});
afterAll(async () => {
  await client?.close();
  await d?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function pagesOf(uri: string): Promise<Content[]> {
  const pages: Content[] = [];
  for (let next: string | undefined = uri; next; ) {
    const page = (await client.readResource({ uri: next })).contents[0] as Content;
    pages.push(page);
    next = page._meta?.next;
  }
  return pages;
}

describe('paged resources', () => {
  test('multi-byte text across page boundaries: every page is text, together they are the file', async () => {
    const text = 'aé€😀'.repeat(200_000); // 2 MB, characters of 1 to 4 bytes
    await writeFile(join(dir, 'text.txt'), text);
    const pages = await pagesOf(`appmesh://files${dir}/text.txt`);
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(page.text).toBeDefined();
    expect(pages.map((page) => page.text).join('')).toBe(text);
    expect(pages[1].uri).toBe(pages[0]._meta?.next);
  });

  test('binary data comes back byte-exact, page after page', async () => {
    const data = Buffer.alloc(2_500_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
    await writeFile(join(dir, 'data.bin'), data);
    const pages = await pagesOf(`appmesh://files${dir}/data.bin`);
    expect(pages.length).toBe(3);
    expect(Buffer.concat(pages.map((page) => Buffer.from(page.blob ?? '', 'base64'))).equals(data)).toBe(true);
  });

  test('a cursor that is not a byte offset is refused', async () => {
    await writeFile(join(dir, 'small.txt'), 'small');
    const refused = await client.readResource({ uri: `appmesh://files${dir}/small.txt?cursor=-5` }).then(() => 'read', (error: Error) => error.message);
    expect(refused).toMatch(/cursor/);
    const page = (await client.readResource({ uri: `appmesh://files${dir}/small.txt?cursor=2` })).contents[0] as Content;
    expect(page.text).toBe('all');
  });
});
