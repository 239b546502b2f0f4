import { createHash, randomBytes } from 'node:crypto';
import { chown, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppmUser } from './helpers/appm-cli.js';
import { ADMIN_PASSWORD, startTestDaemon, type TestDaemon } from './helpers/test-daemon.js';

// Two nodes of one cluster (a shared JWT key): `appm -F` reaches B through A with A's session.
const SHARED_SECRET = randomBytes(32).toString('base64url');
let a: TestDaemon;
let b: TestDaemon;
let person: AppmUser;
let work: string;
beforeAll(async () => {
  b = await startTestDaemon({ env: { APPMESH_REST_JWT_JWTSalt: SHARED_SECRET } });
  a = await startTestDaemon({ env: { APPMESH_REST_JWT_JWTSalt: SHARED_SECRET, APPMESH_REST_ClusterNodes: new URL(b.url).host } });
  person = await AppmUser.create();
  work = await mkdtemp(join(tmpdir(), 'appm-transfer-'));
  expect((await person.run(['logon', '-H', a.url, '-U', 'admin', '-X', ADMIN_PASSWORD])).code).toBe(0);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await person?.remove();
  await rm(work, { recursive: true, force: true });
});

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('appm get/put', () => {
  test('a 50 MB file goes up and comes back byte-exact, its mode kept both ways, no progress bar when piped', async () => {
    const bytes = randomBytes(50 * 1024 * 1024);
    const local = join(work, 'big.bin');
    await writeFile(local, bytes, { mode: 0o751 });
    const remote = join(work, 'remote', 'big.bin');
    await import('node:fs/promises').then((fs) => fs.mkdir(join(work, 'remote')));

    const put = await person.run(['put', '-l', local, '-r', remote]);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect((await stat(remote)).mode & 0o777).toBe(0o751);
    expect(sha(await readFile(remote))).toBe(sha(bytes));

    const back = join(work, 'back.bin');
    const get = await person.run(['get', '-r', remote, '-l', back]);
    expect(get.stderr).toBe('');
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(/size <50 Mi> mode <0751>/);
    expect((await stat(back)).mode & 0o777).toBe(0o751);
    expect(sha(await readFile(back))).toBe(sha(bytes));

    // An existing target is refused, and said so.
    const again = await person.run(['put', '-l', local, '-r', remote]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exist/);
  }, 60_000);
});

describe.runIf(process.getuid?.() === 0)('appm get as root', () => {
  test("the copy keeps the remote file's owner and group", async () => {
    const remote = join(work, 'owned.txt');
    await writeFile(remote, 'owned by nobody\n', { mode: 0o640 });
    await chown(remote, 65534, 65534);
    const local = join(work, 'owned-copy.txt');
    const get = await person.run(['get', '-r', remote, '-l', local]);
    expect(get.stderr).toBe('');
    const copy = await stat(local);
    expect([copy.uid, copy.gid, copy.mode & 0o777]).toEqual([65534, 65534, 0o640]);
    expect((await person.run(['get', '-a', '-r', remote, '-l', join(work, 'plain-copy.txt')])).code).toBe(0);
    expect((await stat(join(work, 'plain-copy.txt'))).uid).toBe(0);
  });
});

describe('appm -F', () => {
  test('commands reach the second node through the first one', async () => {
    const added = await person.run(['add', '-F', new URL(b.url).host, '-a', 'on-node-b', '-c', 'sleep 60']);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    expect((await b.request('GET', '/appmesh/app/on-node-b')).status).toBe(200);
    expect((await a.request('GET', '/appmesh/app/on-node-b')).status).toBe(404);

    const listed = JSON.parse((await person.run(['-F', new URL(b.url).host, 'ls', '--format', 'json'])).stdout) as { name: string }[];
    expect(listed.map((app) => app.name)).toContain('on-node-b');
    expect(JSON.parse((await person.run(['ls', '-j'])).stdout)).toEqual([]);

    const run = await person.run(['run', '-F', new URL(b.url).host, '-u', '-c', 'echo on-b; exit 3']);
    expect(run.stdout).toBe('on-b\n');
    expect(run.code).toBe(3);
    expect((await person.run(['rm', '-F', new URL(b.url).host, '-a', 'on-node-b', '-f'])).code).toBe(0);
  });
});
