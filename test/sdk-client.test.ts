// The official `appmesh` npm client, unchanged, against a real daemon.
// The client logs in with `X-Set-Cookie: true` and then authenticates only by echoing the
// Set-Cookie string back as its Cookie header, so every call after `login` exercises cookie auth.
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { AppMeshClient } from 'appmesh';
import { expectRejection, quietSdkErrors } from './helpers/sdk-client.js';
import { ADMIN_PASSWORD, processAlive, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

let daemon: TestDaemon;
let client: AppMeshClient;
const created = new Set<string>();

/** Registers an app through the client and remembers it for cleanup. */
async function addApp(name: string, json: Record<string, unknown>): Promise<Record<string, unknown>> {
  created.add(name);
  return client.add_app(name, json);
}

async function waitForPid(name: string): Promise<number> {
  return waitFor(async () => {
    const pid = (await client.get_app(name)).pid;
    return typeof pid === 'number' && pid > 0 ? pid : undefined;
  }, 10_000, `a pid for ${name}`);
}

async function appNames(): Promise<string[]> {
  return (await client.list_apps()).map((app) => String(app.name));
}

beforeAll(async () => {
  quietSdkErrors();
  daemon = await startTestDaemon();
  client = new AppMeshClient(daemon.url);
  await client.login('admin', ADMIN_PASSWORD);
});

afterEach(async () => {
  for (const name of created) await client.delete_app(name);
  created.clear();
});

afterAll(async () => {
  await daemon?.stop();
  vi.restoreAllMocks();
});

describe('appmesh npm client', () => {
  test('login succeeds and the session cookie authenticates later calls; a wrong password is 401', async () => {
    const fresh = new AppMeshClient(daemon.url);
    await expectRejection(fresh.list_apps(), 401); // no session yet
    await expect(fresh.login('admin', ADMIN_PASSWORD)).resolves.toBeUndefined();
    expect(Array.isArray(await fresh.list_apps())).toBe(true);

    await expectRejection(new AppMeshClient(daemon.url).login('admin', 'not-the-password'), 401);
  });

  test('list_apps returns an array', async () => {
    expect(Array.isArray(await client.list_apps())).toBe(true);
  });

  test('add_app of a long-running app; disable stops it, enable restarts it', async () => {
    const name = 'sdk-long';
    const app = await addApp(name, { command: 'sleep 60' });
    expect(app).toMatchObject({ name, owner: 'admin', status: 1 });

    const pid = await waitForPid(name);
    expect(await processAlive(pid)).toBe(true);

    expect(await client.disable_app(name)).toBe(true);
    await waitFor(async () => !(await processAlive(pid)), 10_000, `pid ${pid} to exit`);
    const disabled = await client.get_app(name);
    expect(disabled.status).toBe(0);
    expect(disabled.pid).toBeUndefined();

    expect(await client.enable_app(name)).toBe(true);
    const newPid = await waitForPid(name);
    expect(await processAlive(newPid)).toBe(true);
  });

  test('check_app_health is true while running and false once disabled', async () => {
    const name = 'sdk-health';
    await addApp(name, { command: 'sleep 60' });
    await waitForPid(name);
    await waitFor(() => client.check_app_health(name), 10_000, 'healthy');

    expect(await client.disable_app(name)).toBe(true);
    await waitFor(async () => !(await client.check_app_health(name)), 10_000, 'unhealthy');
  });

  test('get_app_output returns the output, exit code and position of a finished run', async () => {
    const name = 'sdk-output';
    await addApp(name, { command: 'echo hello-output', shell: true });
    await waitFor(async () => (await client.get_app(name)).return_code === 0, 10_000, 'return_code 0');

    const out = await client.get_app_output(name);
    expect(out.output).toContain('hello-output');
    expect(out.exitCode).toBe(0);
    expect(out.outPosition).toBeGreaterThan(0);
  });

  test('run_app_sync returns the exit code and hands the output to the handler', async () => {
    let text = '';
    const code = await client.run_app_sync({ command: 'echo sync-hi', shell: true }, (output) => {
      text += String(output);
    });
    expect(code).toBe(0);
    expect(text).toContain('sync-hi');

    expect(await client.run_app_sync({ command: 'exit 3', shell: true }, () => undefined)).toBe(3);
  });

  test('run_app_async + wait_for_async_run stream the output and remove the temporary app', async () => {
    const run = await client.run_app_async({ command: 'for i in 1 2 3; do echo line$i; sleep 0.2; done', shell: true });
    expect(typeof run.appName).toBe('string');
    expect(run.procUid.length).toBeGreaterThan(0);
    created.add(run.appName); // cleanup if the wait fails

    let text = '';
    const code = await client.wait_for_async_run(run, (output) => {
      text += output;
    });
    expect(code).toBe(0);
    expect(text).toBe('line1\nline2\nline3\n');
    expect(await appNames()).not.toContain(run.appName);
  });

  test('delete_app removes the app; deleting again returns false', async () => {
    const name = 'sdk-delete';
    await addApp(name, { command: 'sleep 60' });
    expect(await appNames()).toContain(name);

    expect(await client.delete_app(name)).toBe(true);
    expect(await appNames()).not.toContain(name);
    expect(await client.delete_app(name)).toBe(false);
  });

  test('get_app of an unknown app rejects with 404', async () => {
    await expectRejection(client.get_app('sdk-no-such-app'), 404);
  });

  test("add_app accepts the SDK's documented example shape (empty strings and nulls mean not set)", async () => {
    const name = 'sdk-example';
    const app = await addApp(name, {
      name,
      command: 'sleep 30',
      shell: false,
      session_login: false,
      description: '',
      metadata: '',
      working_dir: '',
      status: 1,
      docker_image: '',
      stdout_cache_num: 3,
      start_time: '',
      end_time: '',
      interval: null,
      cron: false,
      daily_limitation: { daily_start: '', daily_end: '' },
      retention: null,
      health_check_cmd: null,
      permission: null,
      envs: [],
      sec_env: [],
      pid: null,
      resource_limit: { cpu_shares: null, memory_mb: null, memory_virt_mb: null },
      behavior: { exit: 'standby', control: { '0': 'keepalive' } },
    });
    expect(app).toMatchObject({ name, owner: 'admin', status: 1 });
    // Nothing in it restricts when the app may run, so it starts like any other.
    expect(await processAlive(await waitForPid(name))).toBe(true);
  });
});
