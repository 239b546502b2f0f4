import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runningAsRoot } from '../src/auth/os-user.js';
import { ADMIN_PASSWORD, newHome, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';
import { runScript, startScript } from './helpers/plugin-script.js';

// The plugin's script against a real daemon: a sample project synced, built and run remotely.
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const PASSWORD = 'Dev-Password-1';
let d: TestDaemon;
let project: string;
let cache: string;
let env: Record<string, string>;
// Without root the daemon cannot give the user its own home: the workspace is then a temporary folder.
let spare: string | undefined;

const files = async (dir: string): Promise<string[]> => {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1)).sort();
};
const script = (args: string[], extra: Record<string, string> = {}) => runScript(args, { cwd: project, env: { ...env, ...extra } });
const DEEP = `src/${'deep-folder/'.repeat(10)}`;
const remoteRootOf = (stdout: string): string => /\[sync\] (\/\S+):/.exec(stdout)![1];

beforeAll(async () => {
  d = await startTestDaemon();
  expect((await d.request('PUT', '/appmesh/user/dev', { body: { key: PASSWORD, group: 'dev', roles: ['manage', 'view', 'shell'] } })).status).toBe(200);
  project = await mkdtemp(join(tmpdir(), 'appmesh-plugin-project-'));
  cache = await mkdtemp(join(tmpdir(), 'appmesh-plugin-cache-'));
  if (!runningAsRoot()) spare = await mkdtemp(join(tmpdir(), 'appmesh-plugin-remote-'));
  env = { APPMESH_URL: d.url, APPMESH_USER: 'dev', APPMESH_PASSWORD: PASSWORD, APPMESH_WORKSPACE: spare ? join(spare, 'sample') : 'sample', APPMESH_SYNC_EXCLUDE: '*.tmp', XDG_CACHE_HOME: cache };

  // A sample project: sources, ignored build output, and secrets that must never leave.
  await mkdir(join(project, 'src', 'lib'), { recursive: true });
  await mkdir(join(project, 'build'), { recursive: true });
  await mkdir(join(project, 'node_modules', 'dep'), { recursive: true });
  await mkdir(join(project, 'config'), { recursive: true });
  await writeFile(join(project, '.gitignore'), 'build/\n*.log\n!keep.log\n');
  await writeFile(join(project, 'src', '.gitignore'), 'generated.txt\n');
  await writeFile(join(project, 'src', 'main.sh'), '#!/bin/sh\necho "main $1"\n', { mode: 0o755 });
  await writeFile(join(project, 'src', 'generated.txt'), 'ignored by the nested .gitignore\n');
  await writeFile(join(project, 'src', 'lib', 'util.txt'), 'utility\n');
  await writeFile(join(project, 'build.sh'), '#!/bin/sh\nset -e\nmkdir -p out\nhead -c 200000 /dev/urandom > out/artifact.bin\necho built\n', { mode: 0o755 });
  await writeFile(join(project, 'build', 'old.o'), 'ignored');
  await writeFile(join(project, 'node_modules', 'dep', 'index.js'), 'ignored');
  await writeFile(join(project, 'debug.log'), 'ignored');
  await writeFile(join(project, 'keep.log'), 'kept by a negated pattern\n');
  await writeFile(join(project, 'extra.tmp'), 'excluded by APPMESH_SYNC_EXCLUDE');
  for (const secret of ['.env', '.env.production', 'server.key', 'cert.pem', 'id_rsa', 'id_ed25519.pub', 'store.p12', 'config/credentials.json']) {
    await writeFile(join(project, secret), 'SECRET-VALUE-0123456789');
  }
  for (let i = 0; i < 20; i++) await writeFile(join(project, 'src', `file${i}.txt`), `content ${i}\n`);
  // Beyond the 100 bytes of a plain tar name, with characters outside ASCII.
  await mkdir(join(project, DEEP), { recursive: true });
  await writeFile(join(project, DEEP, 'fichier-été.txt'), 'deep\n');
}, 60_000);

afterAll(async () => {
  await d?.stop();
  await rm(project, { recursive: true, force: true });
  await rm(cache, { recursive: true, force: true });
  if (spare) await rm(spare, { recursive: true, force: true });
});

describe('sync', () => {
  let remoteRoot: string;

  test('the first sync sends the project, honouring .gitignore files and never sending secrets', async () => {
    const result = await script(['sync']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    remoteRoot = remoteRootOf(result.stdout);
    if (!spare) expect(remoteRoot).toMatch(/\/workspace\/sample$/);
    expect(result.stdout).toContain('[sync] never sent (secrets)');
    const remote = (await files(remoteRoot)).filter((path) => path !== '.appmesh-sync');
    expect(remote).toEqual(['.gitignore', 'build.sh', 'keep.log', 'src/.gitignore', 'src/lib/util.txt', 'src/main.sh', `${DEEP}fichier-été.txt`, ...Array.from({ length: 20 }, (_, i) => `src/file${i}.txt`)].sort());
    expect(await readFile(join(remoteRoot, DEEP, 'fichier-été.txt'), 'utf8')).toBe('deep\n');
    // Byte for byte, executable bit included.
    expect(await readFile(join(remoteRoot, 'src', 'main.sh'), 'utf8')).toBe('#!/bin/sh\necho "main $1"\n');
    expect((await stat(join(remoteRoot, 'src', 'main.sh'))).mode & 0o111).not.toBe(0);
    // Nothing secret anywhere in the workspace.
    for (const path of await files(remoteRoot)) expect(await readFile(join(remoteRoot, path), 'utf8')).not.toContain('SECRET-VALUE');
  });

  test('a sync with nothing changed sends nothing; after touching one file, only that file is sent', async () => {
    const unchanged = await script(['sync']);
    expect(unchanged.code).toBe(0);
    expect(unchanged.stdout).toContain('0 file(s) sent, 0 deleted');
    const before = await stat(join(remoteRoot, 'src', 'file1.txt'));
    const touchedBefore = await stat(join(remoteRoot, 'src', 'file2.txt'));

    await writeFile(join(project, 'src', 'file2.txt'), 'changed content\n');
    const one = await script(['sync']);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('1 file(s) sent, 0 deleted');
    expect(one.stdout).toContain('[sync] + src/file2.txt');
    // The node's side: the changed file was rewritten, the others were not touched.
    expect(await readFile(join(remoteRoot, 'src', 'file2.txt'), 'utf8')).toBe('changed content\n');
    expect((await stat(join(remoteRoot, 'src', 'file2.txt'))).ctimeMs).not.toBe(touchedBefore.ctimeMs);
    const after = await stat(join(remoteRoot, 'src', 'file1.txt'));
    expect(after.ctimeMs).toBe(before.ctimeMs);
    expect(after.ino).toBe(before.ino);
  });

  test('a touched file with the same content is not sent; a deleted file is deleted on the node', async () => {
    const later = new Date(Date.now() + 5000);
    await utimes(join(project, 'src', 'file3.txt'), later, later);
    await rm(join(project, 'src', 'file4.txt'));
    const result = await script(['sync']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('0 file(s) sent, 1 deleted');
    await expect(stat(join(remoteRoot, 'src', 'file4.txt'))).rejects.toThrow();
    expect(await readFile(join(remoteRoot, 'src', 'file3.txt'), 'utf8')).toBe('content 3\n');
  });

  test('when the node no longer holds what the record says, everything is sent again', async () => {
    await rm(join(remoteRoot, 'src', 'lib'), { recursive: true });
    await rm(join(remoteRoot, '.appmesh-sync'));
    const result = await script(['sync']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('(full comparison)');
    expect(await readFile(join(remoteRoot, 'src', 'lib', 'util.txt'), 'utf8')).toBe('utility\n');
  });
});

describe('status', () => {
  test('shows the node, the user and home, the workspace and the last sync', async () => {
    const result = await script(['status']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`node:      ${d.url}`);
    expect(result.stdout).toMatch(/user: +dev \(home \/\S+\)/);
    expect(result.stdout).toMatch(/workspace: \/\S+sample/);
    expect(result.stdout).toMatch(/sync: +\d+ file\(s\), last at /);
  });
});

describe('several workspaces on one node', () => {
  test('each project syncs into its own workspace, named by APPMESH_WORKSPACE', async () => {
    const other = await mkdtemp(join(tmpdir(), 'appmesh-plugin-other-'));
    try {
      await writeFile(join(other, 'only-here.txt'), 'other project\n');
      const workspace = spare ? join(spare, 'other') : 'other';
      const result = await runScript(['sync'], { cwd: other, env: { ...env, APPMESH_WORKSPACE: workspace } });
      expect(result.code).toBe(0);
      const otherRoot = remoteRootOf(result.stdout);
      expect(otherRoot).toMatch(/\/other$/);
      expect(await files(otherRoot)).toEqual(['.appmesh-sync', 'only-here.txt']);
      // The first project's workspace is untouched, and its next sync still has nothing to send.
      const first = await script(['sync']);
      expect(first.stdout).toContain('0 file(s) sent, 0 deleted');
      expect(remoteRootOf(first.stdout)).not.toBe(otherRoot);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  test("a workspace where the file API may not read (the daemon's own folder) is named in a warning", async () => {
    const inside = { APPMESH_USER: 'admin', APPMESH_PASSWORD: ADMIN_PASSWORD, APPMESH_WORKSPACE: join(d.home, 'project-copy') };
    expect((await script(['sync'], inside)).code).toBe(0);
    const again = await script(['sync'], inside);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('[sync] warning: the node refuses to read files in');
    expect(again.stdout).toContain('(full comparison)');
  });

  test('a workspace name that could escape is refused with a message', async () => {
    const result = await script(['sync'], { APPMESH_WORKSPACE: '../../etc' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('APPMESH_WORKSPACE must be a name');
  });
});

describe('runs', () => {
  test('a remote build with a non-zero exit: the script exits with the remote code', async () => {
    const result = await script(['sync-exec', 'sh src/main.sh hello; echo to-stderr >&2; exit 3']);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('main hello');
    expect(result.stdout).toContain('to-stderr');
    expect(result.stdout.trimEnd().split('\n').at(-1)).toBe('[exit] 3');
  });

  test('an artifact is pulled back byte for byte', async () => {
    const result = await script(['sync-exec', './build.sh', '--pull', 'out/artifact.bin']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('built');
    const remoteRoot = remoteRootOf(result.stdout);
    const local = await readFile(join(project, 'out', 'artifact.bin'));
    expect(local.length).toBe(200_000);
    expect(local.equals(await readFile(join(remoteRoot, 'out', 'artifact.bin')))).toBe(true);
  });

  test('a folder is pulled back whole when its path ends with /', async () => {
    const result = await script(['exec', 'mkdir -p reports/unit && echo pass > reports/unit/a.txt && printf x > reports/b.bin', '--pull', 'reports/']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('[pull] reports/');
    expect(await readFile(join(project, 'reports', 'unit', 'a.txt'), 'utf8')).toBe('pass\n');
    expect(await readFile(join(project, 'reports', 'b.bin'), 'utf8')).toBe('x');
    const missing = await script(['exec', 'true', '--pull', 'no-such-file']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('[pull] no-such-file failed');
  });

  test('a --pull path outside the project is refused before anything runs', async () => {
    const result = await script(['exec', 'true', '--pull', '../escape']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--pull takes a path inside the project');
  });

  test('output is streamed: lines arrive while the command still runs', async () => {
    const run = startScript(['exec', 'echo first-line; sleep 4; echo last-line'], { cwd: project, env });
    let ended = false;
    void run.done.then(() => (ended = true));
    await waitFor(() => run.stdout().includes('first-line'), 20_000, 'the first line');
    expect(ended).toBe(false);
    expect(run.stdout()).not.toContain('last-line');
    const result = await run.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('last-line');
  });

  test('Ctrl-C kills the remote process tree and exits 130', async () => {
    const marker = `${3000 + Math.floor(Math.random() * 1000)}.${randomBytes(2).readUInt16BE()}`;
    const run = startScript(['exec', `sleep ${marker} & sleep ${marker} & echo started; wait`], { cwd: project, env });
    await waitFor(() => run.stdout().includes('started'), 20_000, 'the command to start');
    const pids = await sleepers(marker);
    expect(pids.length).toBe(2);
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stdout).toContain('[interrupted]');
    await waitFor(async () => (await Promise.all(pids.map(processAlive))).every((alive) => !alive), 10_000, 'the remote processes to end');
  });

  test('run-script uploads a local script, runs it in the workspace with its arguments, and removes it', async () => {
    const local = join(project, 'tool.sh');
    await writeFile(local, '#!/bin/sh\necho "args: $*"; echo "in: $(pwd)"; exit 4\n');
    const result = await script(['run-script', 'tool.sh', '--', 'a b', 'c']);
    expect(result.code).toBe(4);
    expect(result.stdout).toContain('args: a b c');
    expect(result.stdout).toMatch(/in: \/\S+sample/);
  });
});

describe('deploy and cleanup', () => {
  test('a deployed service is a keepalive app in the workspace; cleanup removes it and the workspace', async () => {
    const deployed = await script(['deploy', 'sample-web', 'echo serving; sleep 300']);
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toContain('[deploy] sample-web');
    const remoteRoot = remoteRootOf(deployed.stdout);
    const app = (await (await d.request('GET', '/appmesh/app/sample-web')).json()) as { behavior: { exit: string }; working_dir: string; owner: string; pid?: number };
    expect(app.behavior.exit).toBe('keepalive');
    expect(app.working_dir).toBe(remoteRoot);
    expect(app.owner).toBe('dev');
    await waitFor(async () => (await script(['output', 'sample-web'])).stdout.includes('serving'), 15_000, 'the service output');

    const cleaned = await script(['cleanup']);
    expect(cleaned.code).toBe(0);
    expect(cleaned.stdout).toContain('[cleanup] removed sample-web');
    expect((await d.request('GET', '/appmesh/app/sample-web')).status).toBe(404);
    await expect(stat(remoteRoot)).rejects.toThrow();
  });

  test('cleanup of an app that cannot be removed reports it and exits 1', async () => {
    await d.request('PUT', '/appmesh/app/admins-own', { body: { command: 'sleep 300' } });
    const result = await script(['cleanup', 'admins-own']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('could not remove admins-own');
    expect((await d.request('GET', '/appmesh/app/admins-own')).status).toBe(200);
    await d.request('DELETE', '/appmesh/app/admins-own');
  });
});

describe('configuration mistakes get a message that says what to fix', () => {
  test('no credentials', async () => {
    const result = await script(['sync'], { APPMESH_PASSWORD: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Set APPMESH_TOKEN');
  });

  test('a wrong password', async () => {
    const result = await script(['sync'], { APPMESH_PASSWORD: 'wrong-password' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('check APPMESH_USER and APPMESH_PASSWORD');
  });

  test('a bad token', async () => {
    const result = await script(['sync'], { APPMESH_PASSWORD: '', APPMESH_TOKEN: 'not-a-token' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('APPMESH_TOKEN was refused');
  });

  test('a run in a workspace that is not on the node fails with a message, not elsewhere', async () => {
    const result = await script(['exec', 'echo ran-anyway'], { APPMESH_WORKSPACE: spare ? join(spare, 'never-synced') : 'never-synced' });
    expect(result.code).toBe(127);
    expect(result.stdout).not.toContain('ran-anyway');
    expect(result.stdout).toContain('does not exist on the node (sync first)');
    expect(result.stderr).toContain('was not synced');
  });

  test('a good token logs in without a password', async () => {
    const token = (await (await fetch(`${d.url}/appmesh/login`, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`dev:${PASSWORD}`).toString('base64')}` } })).json()) as { access_token: string };
    const result = await script(['exec', 'echo token-ok'], { APPMESH_PASSWORD: '', APPMESH_USER: '', APPMESH_TOKEN: token.access_token, APPMESH_WORKSPACE: tmpdir() });
    expect(result.stdout).toContain('token-ok');
    expect(result.code).toBe(0);
  });

  test("APPMESH_HOST (the original's name) works as APPMESH_URL does", async () => {
    const result = await script(['exec', 'echo via-host'], { APPMESH_URL: '', APPMESH_HOST: d.url, APPMESH_WORKSPACE: tmpdir() });
    expect(result.stdout).toContain('via-host');
    expect(result.code).toBe(0);
  });

  test('no host set and nothing at the default address', async (context) => {
    const answered = await fetch('http://127.0.0.1:6060/appmesh/readyz').then(() => true, () => false);
    if (answered) context.skip();
    const result = await script(['sync'], { APPMESH_URL: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('APPMESH_URL (or APPMESH_HOST) is not set and nothing answers at http://127.0.0.1:6060');
  });

  test('a host that does not answer', async () => {
    const result = await script(['sync'], { APPMESH_URL: 'http://127.0.0.1:1' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Cannot reach the App Mesh daemon at http://127.0.0.1:1');
  });

  test('https to a plain-HTTP port fails at the handshake: a TLS failure', async () => {
    const result = await script(['sync'], { APPMESH_URL: d.url.replace('http://', 'https://') });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TLS failure');
  });

  test("the MCP server's header: the token, a login with the password, or none (then the browser login)", async () => {
    const given = await script(['mcp-headers'], { APPMESH_PASSWORD: '', APPMESH_TOKEN: 'given-token' });
    expect(JSON.parse(given.stdout)).toEqual({ Authorization: 'Bearer given-token' });
    const loggedIn = JSON.parse((await script(['mcp-headers'])).stdout) as { Authorization: string };
    const self = await d.request('GET', '/appmesh/user/self', { token: loggedIn.Authorization.replace('Bearer ', '') });
    expect(self.status).toBe(200);
    const none = await script(['mcp-headers'], { APPMESH_PASSWORD: '' });
    expect(JSON.parse(none.stdout)).toEqual({});
    const refused = await script(['mcp-headers'], { APPMESH_PASSWORD: 'wrong-password' });
    expect(refused.code).toBe(0);
    expect(JSON.parse(refused.stdout)).toEqual({});
    expect(refused.stderr).toContain('falls back to the browser login');
  });

  test('the session-start check names what is missing, without the network', async () => {
    const result = await runScript(['check'], { cwd: project, env: { XDG_CACHE_HOME: cache } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('APPMESH_URL (or APPMESH_HOST) is not set');
    expect(result.stdout).toContain('Neither APPMESH_TOKEN nor APPMESH_PASSWORD is set');
  });
});

describe.runIf(hasOpenssl)('a daemon with a self-signed certificate', () => {
  let tls: TestDaemon;
  let certificate: string;
  beforeAll(async () => {
    const home = await newHome();
    await mkdir(join(home, 'ssl'));
    certificate = join(home, 'ssl', 'server.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', join(home, 'ssl', 'server-key.pem'), '-out', certificate,
    ], { stdio: 'ignore' });
    const previous = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    // The helper's own login call must accept the self-signed certificate.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    tls = await startTestDaemon({ home, env: { APPMESH_REST_SSL_SSLCertificateFile: 'ssl/server.pem', APPMESH_REST_SSL_SSLCertificateKeyFile: 'ssl/server-key.pem' } }).finally(() => {
      if (previous === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previous;
    });
  }, 60_000);
  afterAll(async () => {
    await tls?.stop();
  });
  const withTls = (extra: Record<string, string>) => script(['exec', 'echo over-tls'], { APPMESH_URL: tls.url, APPMESH_USER: 'admin', APPMESH_PASSWORD: ADMIN_PASSWORD, APPMESH_WORKSPACE: '/tmp', ...extra });

  test('an unverifiable certificate is a TLS failure that names APPMESH_SSL_VERIFY', async () => {
    const result = await withTls({});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TLS failure');
    expect(result.stderr).toContain('APPMESH_SSL_VERIFY');
  });

  test('APPMESH_SSL_VERIFY=<CA file> trusts that CA; false skips the check', async () => {
    const trusted = await withTls({ APPMESH_SSL_VERIFY: certificate });
    expect(trusted.stdout).toContain('over-tls');
    expect(trusted.code).toBe(0);
    const unchecked = await withTls({ APPMESH_SSL_VERIFY: 'false' });
    expect(unchecked.stdout).toContain('over-tls');
    expect(unchecked.code).toBe(0);
  });

  test('a CA file that does not exist is named', async () => {
    const result = await withTls({ APPMESH_SSL_VERIFY: '/nonexistent/ca.pem' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('APPMESH_SSL_VERIFY names a CA file that does not exist');
  });
});

/** Pids of the processes running `sleep <marker>`. */
async function sleepers(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === `sleep\0${marker}\0`) pids.push(Number(entry));
  }
  return pids;
}
