import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { Logger } from '../src/util/log.js';
import { login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

const PASSWORD = 'Log-File-Password-1';
let d: TestDaemon | undefined;

afterEach(async () => {
  await d?.stop();
  d = undefined;
});

describe('the daemon log file', () => {
  test('BaseConfig.LogFile: JSON lines, mode 0600, rotated by size into BaseConfig.LogFiles files', async () => {
    const logger = new Logger('INFO', () => undefined);
    d = await startTestDaemon({
      logger,
      env: { APPMESH_BaseConfig_LogFile: 'logs-daemon.log', APPMESH_BaseConfig_LogFileMaxBytes: '4096', APPMESH_BaseConfig_LogFiles: '3', APPMESH_BaseConfig_LogFormat: 'json' },
    });
    for (let index = 0; index < 200; index++) logger.info(`line ${index} ${'x'.repeat(60)}`);
    await logger.flush();
    const files = readdirSync(d.home).filter((name) => name.startsWith('logs-daemon.log')).sort();
    expect(files).toEqual(['logs-daemon.log', 'logs-daemon.log.1', 'logs-daemon.log.2']);
    for (const name of files) {
      const info = statSync(join(d.home, name));
      expect(info.size).toBeLessThanOrEqual(4096);
      expect(info.mode & 0o777).toBe(0o600);
    }
    const last = (await readFile(join(d.home, 'logs-daemon.log'), 'utf8')).trim().split('\n').at(-1)!;
    const record = JSON.parse(last) as { time: string; level: string; message: string };
    expect(record).toEqual({ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), level: 'INFO', message: `line 199 ${'x'.repeat(60)}` });
  });

  test('a change of LogFile applies at once; text lines by default', async () => {
    const logger = new Logger('INFO', () => undefined);
    d = await startTestDaemon({ logger });
    logger.info('before any log file');
    expect(existsSync(join(d.home, 'later.log'))).toBe(false);
    expect((await d.request('POST', '/appmesh/config', { body: { BaseConfig: { LogFile: 'later.log' } } })).status).toBe(200);
    logger.info('after the change');
    await logger.flush();
    const text = await readFile(join(d.home, 'later.log'), 'utf8');
    expect(text).toMatch(/^\S+Z INFO +after the change\n$/);
  });

  test('a config-set holder cannot point the log of a root daemon at a file of its choice', async () => {
    d = await startTestDaemon();
    expect((await d.request('PUT', '/appmesh/user/operator', { body: { key: PASSWORD, group: 'ops', roles: ['manage', 'view'] } })).status).toBe(200);
    const operator = await login(d.url, 'operator', PASSWORD);
    for (const [key, value] of [['LogFile', '/etc/cron.d/appmesh'], ['LogFileMaxBytes', 4096], ['LogFiles', 100], ['LogFormat', 'json']] as const) {
      const refused = await d.request('POST', '/appmesh/config', { token: operator, body: { BaseConfig: { [key]: value } } });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { message: string }).message).toBe(`Only admin may change BaseConfig.${key}`);
    }
    expect(await readFile(join(d.home, 'config', 'config.yaml'), 'utf8')).not.toContain('cron.d');
  });

  test('a sink whose reader is gone: the lines go on in appmesh.log of the home', async () => {
    let open = true;
    const logger = new Logger('INFO', () => (open ? undefined : false));
    d = await startTestDaemon({ logger });
    open = false;
    logger.warn('nobody reads the console');
    await waitFor(() => existsSync(join(d!.home, 'appmesh.log')), 5_000, 'the fallback file');
    await logger.flush();
    const text = await readFile(join(d.home, 'appmesh.log'), 'utf8');
    expect(text).toContain('the console output is closed');
    expect(text).toContain('nobody reads the console');
  });
});
