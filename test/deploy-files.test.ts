import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const UNIT = readFileSync(join(ROOT, 'deploy', 'appmesh-ts.service'), 'utf8');
const analyzer = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((path) => existsSync(path));

describe('the systemd unit', () => {
  test('stops the daemon alone first, delegates cgroups, survives an application killed for memory', () => {
    for (const line of ['KillMode=mixed', 'KillSignal=SIGTERM', 'Delegate=yes', 'OOMPolicy=continue', 'ExecReload=/bin/kill -HUP $MAINPID']) expect(UNIT).toContain(`\n${line}\n`);
    // Options that would break a root supervisor of other users' programs.
    for (const option of ['User=', 'NoNewPrivileges=', 'ProtectControlGroups=', 'RestrictNamespaces=', 'ProtectSystem=']) expect(UNIT).not.toMatch(new RegExp(`^${option}`, 'm'));
  });

  describe.runIf(analyzer)('systemd-analyze verify (skipped: systemd-analyze is not installed)', () => {
    test('finds nothing to complain about', async () => {
      const folder = await mkdtemp(join(tmpdir(), 'appmesh-unit-'));
      try {
        // verify wants an existing executable: the built daemon run by this node.
        const file = join(folder, 'appmesh-ts.service');
        await writeFile(file, UNIT.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${join(ROOT, 'dist', 'bundle', 'main.js')}`));
        const result = spawnSync(analyzer!, ['verify', file], { encoding: 'utf8', timeout: 30_000 });
        expect(result.stderr.trim()).toBe('');
        expect(result.status).toBe(0);
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
    });
  });
});

describe('the Dockerfile', () => {
  test('builds through npm ci (prepare) and copies what the package ships', () => {
    const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[]; scripts: Record<string, string> };
    expect(dockerfile).toMatch(/^FROM node:20-slim/m);
    expect(dockerfile).toContain('npm ci');
    expect(pkg.scripts.prepare).toContain('tsc');
    for (const folder of pkg.files.filter((entry) => entry.startsWith('dist/'))) expect(dockerfile).toContain(`/build/${folder.replace(/\/$/, '')} `);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "--max-semi-space-size=1", "--interrupt-budget=135168", "dist\/bundle\/main.js"\]/m);
  });
});
