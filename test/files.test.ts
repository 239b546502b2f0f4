// File download and upload over real HTTP: byte-exact round trips, the path policy, and no partial
// files left behind by a refused or interrupted upload.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { AppMeshClient, AppMeshError } from 'appmesh';
import { multipartPart, partNameOf } from '../src/files/multipart.js';
import { ADMIN_PASSWORD, login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

const MiB = 1024 * 1024;

let d: TestDaemon; // jailed to `jail`
let free: TestDaemon; // no jail, small upload limit
let jail: string;
let outside: string;
let scratch: string;

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A POST over node:http, so the body can be a stream with an exact Content-Length. */
function post(daemon: TestDaemon, path: string, headers: Record<string, string>, body: Buffer | Readable, token: string | null = daemon.token): Promise<HttpResult> {
  const url = new URL(`${daemon.url}${path}`);
  const all: Record<string, string> = { ...headers };
  if (token) all.Authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: all }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}

function uploadRaw(daemon: TestDaemon, target: string, body: Buffer, extra: Record<string, string> = {}, token?: string | null): Promise<HttpResult> {
  return post(daemon, '/appmesh/file/upload', {
    'X-File-Path': encodeURIComponent(target), 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length), ...extra,
  }, body, token);
}

function download(daemon: TestDaemon, target: string, token: string = daemon.token): Promise<Response> {
  return fetch(`${daemon.url}/appmesh/file/download`, { headers: { Authorization: `Bearer ${token}`, 'X-File-Path': encodeURIComponent(target) } });
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

function multipartBody(boundary: string, content: Buffer, filename: string): Buffer {
  return Buffer.concat([
    Buffer.from(`preamble to ignore\r\n--${boundary}\r\nContent-Disposition: form-data; name="filename"\r\n\r\n${filename}\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    content,
    Buffer.from(`\r\n--${boundary}--\r\nepilogue`),
  ]);
}

beforeAll(async () => {
  // The client console.logs every error it rejects with; keep expected failures quiet.
  const log = console.log.bind(console);
  vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('AppMeshClient error:')) return;
    log(...args);
  });
  jail = await mkdtemp(join(tmpdir(), 'appmesh-files-jail-'));
  outside = await mkdtemp(join(tmpdir(), 'appmesh-files-outside-'));
  scratch = await mkdtemp(join(tmpdir(), 'appmesh-files-scratch-'));
  await writeFile(join(outside, 'secret'), 'outside the jail');
  [d, free] = await Promise.all([
    startTestDaemon({ env: { APPMESH_REST_FileAllowedBaseDir: jail } }),
    startTestDaemon({ env: { APPMESH_Limits_MaxUploadBytes: String(MiB) } }),
  ]);
});

afterAll(async () => {
  await Promise.all([d?.stop(), free?.stop()]);
  await Promise.all([jail, outside, scratch].map((dir) => dir && rm(dir, { recursive: true, force: true })));
  vi.restoreAllMocks();
});

describe('upload and download', () => {
  test('a 50 MB binary streamed up comes back byte-exact with its mode and owner', async () => {
    const local = join(scratch, 'big.bin');
    const out = createWriteStream(local);
    for (let i = 0; i < 50; i++) if (!out.write(randomBytes(MiB))) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    const target = join(jail, 'big.bin');

    const up = await post(d, '/appmesh/file/upload', {
      'X-File-Path': encodeURIComponent(target), 'X-File-Mode': String(0o640), 'Content-Type': 'application/octet-stream', 'Content-Length': String(50 * MiB),
    }, createReadStream(local));
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body)).toEqual({ message: 'Success' });
    expect((await stat(target)).mode & 0o777).toBe(0o640);
    expect(await listing(jail)).toEqual(['big.bin']);

    const res = await download(d, target);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-length')).toBe(String(50 * MiB));
    expect(res.headers.get('content-disposition')).toBe('attachment; filename=big.bin');
    expect(res.headers.get('x-file-mode')).toBe('416');
    expect(res.headers.get('x-file-user')).toBe(userInfo().username);
    const hash = createHash('sha256');
    for await (const chunk of res.body!) hash.update(chunk);
    expect(hash.digest('hex')).toBe(await sha256File(local));
    await rm(local);
  });

  test('an existing target is refused with 403 and left unchanged', async () => {
    const target = join(jail, 'exists.txt');
    await writeFile(target, 'original');
    const res = await uploadRaw(d, target, Buffer.from('replacement'));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toBe('file already exist');
    expect(await readFile(target, 'utf8')).toBe('original');
    expect((await listing(jail)).filter((name) => name.endsWith('.part'))).toEqual([]);
  });

  test('names with +, spaces and non-ASCII characters survive the header encoding', async () => {
    const target = join(jail, 'a+b c-é.txt');
    expect((await uploadRaw(d, target, Buffer.from('plus'))).status).toBe(200);
    expect(await readFile(target, 'utf8')).toBe('plus');
    const res = await download(d, target);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename=${encodeURIComponent('a+b c-é.txt')}`);
    expect(await res.text()).toBe('plus');
  });

  test('an empty file round-trips, and both operations are audited', async () => {
    const target = join(jail, 'empty');
    expect((await post(d, '/appmesh/file/upload', { 'X-File-Path': target, 'Content-Length': '0' }, Buffer.alloc(0))).status).toBe(200);
    const res = await download(d, target);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('0');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    // Records are written in batches: waited for until both of this file's are there.
    const lines = await waitFor(async () => {
      const text = await readFile(join(d.home, 'audit.log'), 'utf8').catch(() => '');
      const records = text.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      // The download's path came URI-encoded in its header, as the SDK sends it.
      const events = new Set(records.filter((record) => record.target === target || record.target === encodeURIComponent(target)).map((record) => record.event));
      return events.has('file.download') && events.has('file.upload') ? records : undefined;
    }, 5000, 'audit lines');
    expect(lines).toContainEqual(expect.objectContaining({ event: 'file.upload', user: 'admin', target, outcome: 'success' }));
  });

  test('a missing file is 406, a directory too; a missing X-File-Path is 400', async () => {
    const missing = await download(d, join(jail, 'nope'));
    expect(missing.status).toBe(406);
    expect(await missing.json()).toEqual({ message: 'file not found' });
    expect((await download(d, jail)).status).toBe(406);
    const noHeader = await fetch(`${d.url}/appmesh/file/download`, { headers: { Authorization: `Bearer ${d.token}` } });
    expect(noHeader.status).toBe(400);
    expect(await noHeader.json()).toEqual({ message: "header 'X-File-Path' not found" });
    const noHeaderUp = await post(d, '/appmesh/file/upload', { 'Content-Length': '1' }, Buffer.from('x'));
    expect(noHeaderUp.status).toBe(400);
  });

  test('an upload into a missing directory is refused with a clear message', async () => {
    const res = await uploadRaw(d, join(jail, 'no-such-dir', 'f'), Buffer.from('x'));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).message).toMatch(/does not exist/);
  });

  test('without a token both are 401', async () => {
    expect((await uploadRaw(d, join(jail, 'anon'), Buffer.from('x'), {}, null)).status).toBe(401);
    expect((await fetch(`${d.url}/appmesh/file/download`, { headers: { 'X-File-Path': join(jail, 'big.bin') } })).status).toBe(401);
  });
});

describe('path policy', () => {
  test('.., relative, NUL, jail-escape and symlink-escape paths are refused and nothing is written', async () => {
    const before = await listing(jail);
    const link = join(jail, 'link-out');
    await symlink(outside, link);
    await symlink(join(outside, 'secret'), join(jail, 'secret-link'));
    await symlink(join(outside, 'dangling'), join(jail, 'dangling-link'));
    const refused = [
      `${jail}/../${outside.split('/').pop()}/dotdot`,
      `${jail}/sub/../escape`,
      'relative/path.txt',
      `${jail}/nul\0byte`,
      join(outside, 'jail-escape'),
      join(link, 'via-symlink-dir'),
      join(jail, 'dangling-link'),
      '/',
    ];
    for (const target of refused) {
      const res = await uploadRaw(d, target, Buffer.from('must not be written'));
      expect(res.status, target).toBeGreaterThanOrEqual(400);
      expect(res.status, target).toBeLessThan(500);
    }
    for (const target of [join(outside, 'secret'), join(link, 'secret'), join(jail, 'secret-link'), `${jail}/../${outside.split('/').pop()}/secret`]) {
      const res = await download(d, target);
      expect(res.status, target).toBe(403);
      expect(((await res.json()) as { message: string }).message).toMatch(/^Invalid file path/);
    }
    expect(await listing(outside)).toEqual(['secret']);
    expect(await listing(jail)).toEqual([...before, 'dangling-link', 'link-out', 'secret-link'].sort());
    // A link that stays inside the jail is fine.
    await symlink(join(jail, 'exists.txt'), join(jail, 'inside-link'));
    expect(await (await download(d, join(jail, 'inside-link'))).text()).toBe('original');
  });

  test('system folders are refused even without a jail, also when reached through a link', async () => {
    const res = await uploadRaw(free, '/etc/appmesh-files-test-must-not-exist', Buffer.from('x'));
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).message).toMatch(/system folder/);
    await expect(lstat('/etc/appmesh-files-test-must-not-exist')).rejects.toThrow();
    expect((await download(free, '/etc/passwd')).status).toBe(403);
    await symlink('/etc', join(scratch, 'etc-link'));
    expect((await download(free, join(scratch, 'etc-link', 'passwd'))).status).toBe(403);
    expect((await uploadRaw(free, join(scratch, 'etc-link', 'appmesh-files-test-must-not-exist'), Buffer.from('x'))).status).toBe(403);
    expect((await uploadRaw(free, 'relative.txt', Buffer.from('x'))).status).toBe(403);
  });

  test('an upload over the size limit is 413 and leaves nothing', async () => {
    const res = await uploadRaw(free, join(scratch, 'too-big'), randomBytes(2 * MiB));
    expect(res.status).toBe(413);
    await expect(lstat(join(scratch, 'too-big'))).rejects.toThrow();
    // Without a Content-Length the limit is enforced while streaming.
    const chunked = await post(free, '/appmesh/file/upload', { 'X-File-Path': join(scratch, 'too-big-chunked') }, Readable.from([randomBytes(MiB), randomBytes(MiB)]));
    expect(chunked.status).toBe(413);
    await waitFor(async () => (await listing(scratch)).every((name) => !name.startsWith('.too-big')), 5000, 'the temporary file to go');
    await expect(lstat(join(scratch, 'too-big-chunked'))).rejects.toThrow();
  });
});

describe('interrupted and multipart uploads', () => {
  test('an upload cut off mid-body leaves neither the file nor a .part file', async () => {
    const dir = join(jail, 'cut');
    await mkdir(dir);
    const total = 16 * MiB;
    const url = new URL(d.url);
    const req = httpRequest({
      host: url.hostname, port: url.port, method: 'POST', path: '/appmesh/file/upload',
      headers: { Authorization: `Bearer ${d.token}`, 'X-File-Path': encodeURIComponent(join(dir, 'cut.bin')), 'Content-Type': 'application/octet-stream', 'Content-Length': String(total) },
    });
    req.on('error', () => undefined); // the destroy below
    req.write(randomBytes(total / 2));
    // The daemon has started writing: its temporary file is there.
    await waitFor(async () => (await listing(dir)).some((name) => name.endsWith('.part')), 10_000, 'a .part file');
    req.destroy();
    await waitFor(async () => (await listing(dir)).length === 0, 5000, 'the directory to be empty');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await listing(dir)).toEqual([]);
  });

  test('multipart/form-data: the part named file is the content, other fields are ignored', async () => {
    const boundary = '----appmesh-test-boundary';
    // Content that looks like a boundary but is not one, right where parsers go wrong.
    const content = Buffer.concat([randomBytes(100_000), Buffer.from(`\r\n--${boundary.slice(0, -1)}x\r\n--`), randomBytes(1000), Buffer.from('\r\n')]);
    const target = join(jail, 'multi.bin');
    const res = await post(d, '/appmesh/file/upload', {
      'X-File-Path': encodeURIComponent(target), 'X-File-Mode': '420', 'Content-Type': `multipart/form-data; boundary=${boundary}`,
    }, Readable.from([multipartBody(boundary, content, 'multi.bin')]));
    expect(res.status).toBe(200);
    expect((await readFile(target)).equals(content)).toBe(true);
    expect((await stat(target)).mode & 0o777).toBe(0o644);
    // A body without the closing boundary is refused and leaves nothing.
    const cut = multipartBody(boundary, content, 'x').subarray(0, -20);
    const bad = await post(d, '/appmesh/file/upload', { 'X-File-Path': join(jail, 'multi-cut.bin'), 'Content-Type': `multipart/form-data; boundary=${boundary}` }, cut);
    expect(bad.status).toBe(400);
    await expect(lstat(join(jail, 'multi-cut.bin'))).rejects.toThrow();
  });

  test('the multipart parser finds delimiters split at every chunk size', async () => {
    const boundary = 'b0undary';
    const content = Buffer.concat([Buffer.from('\r\n--b0und'), randomBytes(3000), Buffer.from('\r\n--b0undar\r\n')]);
    const body = multipartBody(boundary, content, 'f');
    for (const size of [1, 2, 3, 7, 11, 13, 64, 1000, body.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < body.length; i += size) chunks.push(body.subarray(i, i + size));
      const out: Buffer[] = [];
      for await (const chunk of multipartPart(Readable.from(chunks), boundary, 'file')) out.push(chunk);
      expect(Buffer.concat(out).equals(content), `chunk size ${size}`).toBe(true);
    }
    expect(partNameOf('Content-Disposition: form-data; filename="a"; name="file"')).toBe('file');
    expect(partNameOf('content-disposition: form-data; name=filename')).toBe('filename');
  });

  test('ownership headers are applied when the daemon runs as root', async () => {
    if (process.getuid?.() !== 0) return;
    const target = join(jail, 'owned.txt');
    const res = await uploadRaw(d, target, Buffer.from('owned'), { 'X-File-User': '65534', 'X-File-Group': '65534', 'X-File-Mode': '384' });
    expect(res.status).toBe(200);
    const info = await stat(target);
    expect([info.uid, info.gid, info.mode & 0o777]).toEqual([65534, 65534, 0o600]);
    const dl = await download(d, target);
    expect(dl.headers.get('x-file-user')).not.toBe('');
    expect((await uploadRaw(d, join(jail, 'owned2.txt'), Buffer.from('x'), { 'X-File-User': 'no-such-user-xyz' })).status).toBe(400);
  });
});

describe('clients and permissions', () => {
  test('the npm client uploads and downloads files unchanged (buffered and streamed sizes)', async () => {
    const client = new AppMeshClient(d.url);
    await client.login('admin', ADMIN_PASSWORD);
    for (const [name, size] of [['small.bin', 100_000], ['large.bin', 12 * MiB]] as const) {
      const local = join(scratch, name);
      await writeFile(local, randomBytes(size));
      await chmod(local, 0o751);
      const remote = join(jail, `client-${name}`);
      await client.upload_file(local, remote);
      expect((await stat(remote)).mode & 0o777).toBe(0o751);
      const back = join(scratch, `back-${name}`);
      await client.download_file(remote, back);
      expect(await sha256File(back)).toBe(await sha256File(local));
      expect((await stat(back)).mode & 0o777).toBe(0o751);
    }
    const error = await client.download_file(join(jail, 'missing'), join(scratch, 'x')).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(AppMeshError);
    expect((error as AppMeshError).statusCode).toBe(406);
    const exists = await client.upload_file(join(scratch, 'small.bin'), join(jail, 'client-small.bin')).then(() => undefined, (e: unknown) => e);
    expect((exists as AppMeshError).statusCode).toBe(403);
  });

  test('a user without file-upload / file-download is refused', async () => {
    const put = await d.request('PUT', '/appmesh/user/viewer', { body: { key: 'Pw-123456', group: 'g', roles: ['view'] } });
    expect(put.status).toBe(200);
    const token = await login(d.url, 'viewer', 'Pw-123456');
    const target = join(jail, 'viewer.txt');
    const res = await uploadRaw(d, target, Buffer.from('x'), {}, token);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).message).toMatch(/file-upload/);
    await expect(lstat(target)).rejects.toThrow();
    expect((await download(d, join(jail, 'exists.txt'), token)).status).toBe(400);
  });
});
