// Prometheus metrics and host resources over real HTTP, and through the official npm client.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AppMeshClient } from 'appmesh';
import { readCgroupLimits } from '../src/observability/cgroup.js';
import { parseMounts } from '../src/observability/mounts.js';
import { ADMIN_PASSWORD, login, startTestDaemon, waitFor, type TestDaemon } from './helpers/test-daemon.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
}

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|NaN|[+-]Inf)';
const SAMPLE_LINE = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})?[ \\t]+(${VALUE})(?:[ \\t]+-?\\d+)?$`);
const TYPE_LINE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);
const HELP_LINE = new RegExp(`^# HELP (${METRIC_NAME})(?: .*)?$`);
const SUFFIXES: Record<string, readonly string[]> = { histogram: ['_bucket', '_sum', '_count'], summary: ['_sum', '_count'] };

/** A strict parser of the text exposition format 0.0.4: throws on the first line off the grammar. */
function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type = TYPE_LINE.exec(line);
      if (type) {
        if (types.has(type[1])) throw new Error(`line ${index + 1}: second TYPE for ${type[1]}`);
        if (samples.some((sample) => familyOf(sample.name, types) === type[1])) throw new Error(`line ${index + 1}: TYPE after samples of ${type[1]}`);
        types.set(type[1], type[2]);
      } else if (line.startsWith('# HELP ') && !HELP_LINE.test(line)) throw new Error(`line ${index + 1}: malformed HELP: ${line}`);
      continue;
    }
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`line ${index + 1} is not an exposition sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (label[1] in labels) throw new Error(`line ${index + 1}: label ${label[1]} twice`);
      labels[label[1]] = label[2].replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    const sample = { name: match[1], labels, value: Number(match[3].replace('Inf', 'Infinity')) };
    if (familyOf(sample.name, types) === undefined) throw new Error(`line ${index + 1}: ${sample.name} has no # TYPE`);
    samples.push(sample);
  }
  return { types, samples };
}

function familyOf(sampleName: string, types: Map<string, string>): string | undefined {
  if (types.has(sampleName)) return sampleName;
  for (const [family, type] of types) {
    if ((SUFFIXES[type] ?? []).some((suffix) => sampleName === family + suffix)) return family;
  }
  return undefined;
}

const SPEC_METRICS: Record<string, string> = {
  appmesh_metrics_scrapes_total: 'counter',
  appmesh_metrics_collection_errors_total: 'counter',
  appmesh_process_open_fds: 'gauge',
  appmesh_process_id: 'gauge',
  appmesh_build_info: 'gauge',
  appmesh_http_requests_total: 'counter',
  appmesh_http_request_duration_seconds: 'histogram',
  appmesh_http_requests_in_flight: 'gauge',
  appmesh_application_process_starts_total: 'counter',
  appmesh_application_metrics_collection_errors_total: 'counter',
  appmesh_application_process_id: 'gauge',
  appmesh_application_process_resident_memory_bytes: 'gauge',
  appmesh_application_process_cpu_usage_cores: 'gauge',
  appmesh_application_process_open_fds: 'gauge',
  appmesh_application_enabled: 'gauge',
  appmesh_application_running: 'gauge',
  appmesh_application_healthy: 'gauge',
};
const PER_APP_METRICS = Object.keys(SPEC_METRICS).filter((name) => name.startsWith('appmesh_application_'));

let d: TestDaemon;

beforeAll(async () => {
  d = await startTestDaemon();
});

afterAll(async () => {
  await d?.stop();
});

async function scrape(path = '/appmesh/metrics'): Promise<Exposition> {
  const response = await d.request('GET', path, { token: null });
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const sample = exposition.samples.find((s) => s.name === name && Object.entries(labels).every(([key, v]) => s.labels[key] === v));
  return sample?.value;
}

function appSeries(exposition: Exposition, application: string): Sample[] {
  return exposition.samples.filter((sample) => sample.labels.application === application);
}

describe('GET /appmesh/metrics', () => {
  test('is Prometheus text without a token, with every metric of the spec and host on every series', async () => {
    expect((await d.request('PUT', '/appmesh/app/obs-listed', { body: { command: 'sleep 60' } })).status).toBe(200);
    for (const path of ['/appmesh/metrics', '/metrics']) {
      const response = await d.request('GET', path, { token: null });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const exposition = parseExposition(await response.text());
      for (const [name, type] of Object.entries(SPEC_METRICS)) {
        expect(exposition.types.get(name), name).toBe(type);
        expect(exposition.samples.some((sample) => familyOf(sample.name, exposition.types) === name), `a sample of ${name}`).toBe(true);
      }
      for (const sample of exposition.samples) expect(sample.labels.host, `host on ${sample.name}`).toBe(hostname());
      expect(value(exposition, 'appmesh_process_id')).toBe(process.pid);
      expect(value(exposition, 'appmesh_build_info')).toBe(1);
      expect(exposition.samples.find((sample) => sample.name === 'appmesh_build_info')?.labels.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(value(exposition, 'appmesh_process_open_fds')).toBeGreaterThan(0);
      // Node's own metrics are there, under a prefix that cannot collide with App Mesh's.
      expect(exposition.types.has('appmesh_nodejs_process_cpu_user_seconds_total')).toBe(true);
    }
    await d.request('DELETE', '/appmesh/app/obs-listed');
  });

  test('the scrape counter increases with every scrape', async () => {
    const first = value(await scrape(), 'appmesh_metrics_scrapes_total')!;
    const second = value(await scrape('/metrics'), 'appmesh_metrics_scrapes_total')!;
    expect(second).toBeGreaterThan(first);
  });

  test('counts requests by method, route template, status code and class; scrapes are not counted', async () => {
    expect((await d.request('PUT', '/appmesh/app/obs-counted', { body: { command: 'sleep 60' } })).status).toBe(200);
    const labels = { method: 'GET', route: '/appmesh/app/:param', status_code: '200', status_class: '2xx' };
    const before = value(await scrape(), 'appmesh_http_requests_total', labels) ?? 0;
    expect((await d.request('GET', '/appmesh/app/obs-counted')).status).toBe(200);
    expect((await d.request('GET', '/appmesh/app/obs-counted')).status).toBe(200);
    expect((await d.request('GET', '/appmesh/no/such/path')).status).toBe(404);
    const after = await scrape();
    expect(value(after, 'appmesh_http_requests_total', labels)).toBe(before + 2);
    expect(value(after, 'appmesh_http_requests_total', { route: 'unmatched', status_code: '404', status_class: '4xx' })).toBeGreaterThanOrEqual(1);
    expect(value(after, 'appmesh_http_request_duration_seconds_count', { method: 'GET', route: '/appmesh/app/:param' })).toBeGreaterThanOrEqual(2);
    expect(value(after, 'appmesh_http_requests_in_flight', { method: 'GET', route: '/appmesh/app/:param' })).toBe(0);
    const buckets = after.samples
      .filter((sample) => sample.name === 'appmesh_http_request_duration_seconds_bucket' && sample.labels.route === '/appmesh/app/:param' && sample.labels.method === 'GET')
      .map((sample) => sample.labels.le);
    expect(buckets).toEqual(['0.01', '0.05', '0.1', '0.25', '0.5', '1', '5', '30', '+Inf']);
    const routes = new Set(after.samples.filter((sample) => sample.name === 'appmesh_http_requests_total').map((sample) => sample.labels.route));
    expect(routes.has('/appmesh/metrics')).toBe(false);
    expect(routes.has('/metrics')).toBe(false);
    for (const route of routes) expect(route).not.toMatch(/:(?!param(\/|$))/);
    await d.request('DELETE', '/appmesh/app/obs-counted');
  });

  test('per-application series follow the app: running, disabled, deleted', async () => {
    const name = 'obs-sleeper';
    const app = { application: name };
    expect((await d.request('PUT', `/appmesh/app/${name}`, { body: { command: 'sleep 60' } })).status).toBe(200);
    const running = await waitFor(async () => {
      const exposition = await scrape();
      // Right after fork the child may not lead its own process group yet: wait for its memory too.
      const ready = value(exposition, 'appmesh_application_running', app) === 1 && value(exposition, 'appmesh_application_process_id', app)! > 0;
      return ready && value(exposition, 'appmesh_application_process_resident_memory_bytes', app)! > 0 ? exposition : undefined;
    }, 10_000, 'the app to run');
    const view = (await (await d.request('GET', `/appmesh/app/${name}`)).json()) as { pid: number };
    expect(value(running, 'appmesh_application_process_id', app)).toBe(view.pid);
    expect(value(running, 'appmesh_application_enabled', app)).toBe(1);
    expect(value(running, 'appmesh_application_process_starts_total', app)).toBeGreaterThanOrEqual(1);
    expect(value(running, 'appmesh_application_process_resident_memory_bytes', app)).toBeGreaterThan(0);
    expect(value(running, 'appmesh_application_process_open_fds', app)).toBeGreaterThan(0);
    expect(value(running, 'appmesh_application_process_cpu_usage_cores', app)).toBeGreaterThanOrEqual(0);
    expect(value(running, 'appmesh_application_metrics_collection_errors_total', app)).toBe(0);
    // No health command: healthy means running (health is set at the start).
    expect(value(running, 'appmesh_application_healthy', app)).toBe(1);

    expect((await d.request('POST', `/appmesh/app/${name}/disable`)).status).toBe(200);
    const stopped = await scrape();
    expect(value(stopped, 'appmesh_application_running', app)).toBe(0);
    expect(value(stopped, 'appmesh_application_enabled', app)).toBe(0);
    expect(value(stopped, 'appmesh_application_process_id', app)).toBe(0);
    expect(value(stopped, 'appmesh_application_healthy', app)).toBe(0);
    expect(value(stopped, 'appmesh_application_process_resident_memory_bytes', app)).toBe(0);

    expect((await d.request('DELETE', `/appmesh/app/${name}`)).status).toBe(200);
    expect(appSeries(await scrape(), name)).toEqual([]);
  });

  test('a registered app has every per-app series before it ever runs', async () => {
    const name = 'obs-disabled';
    expect((await d.request('PUT', `/appmesh/app/${name}`, { body: { command: 'sleep 60', status: 0 } })).status).toBe(200);
    const exposition = await scrape();
    expect(new Set(appSeries(exposition, name).map((sample) => sample.name))).toEqual(new Set(PER_APP_METRICS));
    expect(value(exposition, 'appmesh_application_process_starts_total', { application: name })).toBe(0);
    expect(value(exposition, 'appmesh_application_enabled', { application: name })).toBe(0);
    await d.request('DELETE', `/appmesh/app/${name}`);
  });

  test('runs (run, syncrun) never get per-application series', async () => {
    const run = await d.request('POST', '/appmesh/app/run', { body: { name: 'obs-async-run', command: 'sleep 30' } });
    expect(run.status).toBe(200);
    const sync = await d.request('POST', '/appmesh/app/syncrun', { body: { name: 'obs-sync-run', command: 'echo hi' } });
    expect(sync.status).toBe(200);
    const exposition = await scrape();
    expect(appSeries(exposition, 'obs-async-run')).toEqual([]);
    expect(appSeries(exposition, 'obs-sync-run')).toEqual([]);
    await d.request('DELETE', '/appmesh/app/obs-async-run');
  });
});

describe('GET /appmesh/resources', () => {
  const INTEGER_FIELDS = [
    'schema_version', 'collected_at_unix_seconds', 'pid', 'cpu_cores', 'cpu_sockets', 'cpu_processors', 'cpu_effective_processors',
    'mem_total_bytes', 'mem_available_bytes', 'mem_current_bytes', 'mem_swap_total_bytes', 'mem_swap_free_bytes', 'mem_swap_current_bytes',
    'mem_daemon_process_tree_bytes', 'mem_applications', 'fd', 'appmesh_start_time_unix_seconds',
  ];

  test('answers schema 3 with the keys the SDKs check, integers where the spec says so', async () => {
    expect((await d.request('PUT', '/appmesh/app/obs-resource-app', { body: { command: 'sleep 60' } })).status).toBe(200);
    await waitFor(async () => ((await (await d.request('GET', '/appmesh/app/obs-resource-app')).json()) as { pid?: number }).pid, 10_000, 'the app to run');
    const response = await d.request('GET', '/appmesh/resources');
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.schema_version).toBe(3);
    for (const key of ['cpu_effective_processors', 'mem_available_bytes', 'swap_source', 'collector_errors', 'net', 'fs', 'fd']) expect(body, key).toHaveProperty(key);
    for (const key of INTEGER_FIELDS) expect(Number.isInteger(body[key]), `${key} = ${String(body[key])}`).toBe(true);
    expect(Array.isArray(body.collector_errors)).toBe(true);
    expect(Array.isArray(body.net)).toBe(true);
    expect(Array.isArray(body.fs)).toBe(true);
    expect(['host', 'cgroup']).toContain(body.swap_source);
    expect(['host', 'cgroup']).toContain(body.memory_source);
    expect(['host', 'cgroup']).toContain(body.cpu_source);
    expect(['none', 'v1', 'v2']).toContain(body.cgroup_version);
    expect(body.pid).toBe(process.pid);
    expect(body.host_name).toBe(hostname());
    expect(body.cpu_effective_processors as number).toBeGreaterThanOrEqual(1);
    expect(body.cpu_effective_processors as number).toBeLessThanOrEqual(body.cpu_processors as number);
    expect(body.mem_available_bytes as number).toBeLessThanOrEqual(body.mem_total_bytes as number);
    expect(body.mem_applications as number).toBeGreaterThan(0);
    expect(body.mem_daemon_process_tree_bytes as number).toBeGreaterThan(body.mem_applications as number);
    expect(body.fd as number).toBeGreaterThan(0);
    expect(typeof body.cpu_quota_cores).toBe('number');
    if (process.platform === 'linux') {
      expect(body.os).toBe('linux');
      expect(body.load).toEqual({ '1min': expect.any(Number), '5min': expect.any(Number), '15min': expect.any(Number) });
      for (const entry of body.fs as Record<string, unknown>[]) {
        expect(entry).toEqual({ device: expect.any(String), mount_point: expect.any(String), size: expect.any(Number), used: expect.any(Number), available: expect.any(Number), usage: expect.any(Number) });
      }
    }
    for (const address of body.net as Record<string, unknown>[]) expect(address).toEqual({ name: expect.any(String), address: expect.any(String), ipv6: expect.any(Boolean) });
    await d.request('DELETE', '/appmesh/app/obs-resource-app');
  });

  test('needs a token (401) and the host-resource-view permission (400)', async () => {
    expect((await d.request('GET', '/appmesh/resources', { token: null })).status).toBe(401);
    expect((await d.request('PUT', '/appmesh/user/obs-shell', { body: { key: 'Pw-123456', group: 'g', roles: ['shell'] } })).status).toBe(200);
    const token = await login(d.url, 'obs-shell', 'Pw-123456');
    const denied = await d.request('GET', '/appmesh/resources', { token });
    expect(denied.status).toBe(400);
    expect(((await denied.json()) as { message: string }).message).toContain('host-resource-view');
    // Metrics stay open to the same user and to nobody at all.
    expect((await d.request('GET', '/appmesh/metrics', { token })).status).toBe(200);
  });
});

describe('the appmesh npm client', () => {
  test('metrics() and get_host_resources()', async () => {
    const client = new AppMeshClient(d.url);
    await client.login('admin', ADMIN_PASSWORD);
    expect(await client.metrics()).toContain('appmesh_metrics_scrapes_total');
    expect((await client.get_host_resources()).schema_version).toBe(3);
  });
});

describe('cgroup limits', () => {
  async function tree(files: Record<string, string>): Promise<string> {
    const root = await mkdtemp(join(tmpdir(), 'appmesh-cgroup-'));
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), text);
    }
    return root;
  }

  test('v2: the tightest limit of the cgroup and its ancestors', async () => {
    const root = await tree({
      'cg/a/cpu.max': '150000 100000\n',
      'cg/a/memory.max': 'max\n',
      'cg/a/b/cpu.max': 'max 100000\n',
      'cg/a/b/memory.max': '1073741824\n',
      'cg/a/b/memory.current': '4096\n',
      'cg/a/b/memory.swap.max': '0\n',
      'self': '0::/a/b\n',
    });
    try {
      const limits = await readCgroupLimits(parseMounts(`cgroup2 ${join(root, 'cg')} cgroup2 rw,nosuid 0 0\n`), join(root, 'self'));
      expect(limits).toEqual({ version: 'v2', cpuQuotaCores: 1.5, memoryLimitBytes: 1073741824, memoryCurrentBytes: 4096, swapLimitBytes: 0, swapCurrentBytes: undefined });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('v1: per-controller mounts; an unlisted path means the mount is the own cgroup; huge values mean no limit', async () => {
    const root = await tree({
      'cpu/cpu.cfs_quota_us': '50000\n',
      'cpu/cpu.cfs_period_us': '100000\n',
      'memory/memory.limit_in_bytes': '9223372036854771712\n',
      'memory/memory.usage_in_bytes': '8192\n',
      'self': '4:memory:/not/here\n1:cpu,cpuacct:/\n0::/\n',
    });
    try {
      const mounts = parseMounts(
        `cgroup ${join(root, 'cpu')} cgroup rw,cpu,cpuacct 0 0\ncgroup ${join(root, 'memory')} cgroup rw,memory 0 0\ncgroup2 ${join(root, 'unified')} cgroup2 rw 0 0\n`,
      );
      const limits = await readCgroupLimits(mounts, join(root, 'self'));
      expect(limits).toMatchObject({ version: 'v1', cpuQuotaCores: 0.5, memoryLimitBytes: undefined, memoryCurrentBytes: 8192 });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('no cgroup file system: none', async () => {
    expect(await readCgroupLimits(parseMounts('/dev/vda / ext4 rw 0 0\n'), '/nonexistent')).toEqual({ version: 'none' });
  });
});
