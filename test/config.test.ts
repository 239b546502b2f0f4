import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { mkdtemp, rm, mkdir, writeFile, stat, readFile } from 'node:fs/promises';
import os from 'node:os';
import { configDocumentSchema, type ConfigDocument } from '../src/config/config-schema.js';
import { applyEnvOverrides } from '../src/config/env-overrides.js';
import {
  ConfigError,
  applyConfigPatch,
  configPaths,
  loadConfig,
  mergePatch,
  saveConfig,
} from '../src/config/config-file.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(os.tmpdir() + '/appmesh-config-test-');
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

function defaults(): ConfigDocument {
  return configDocumentSchema.parse({});
}

describe('schema', () => {
  test('parse({}) yields the full default document', () => {
    const doc = defaults();
    // Sections grow with every feature; these are the keys whose defaults the README promises.
    expect(doc.BaseConfig).toMatchObject({
      Description: '', DefaultExecUser: '', DisableExecUser: false, ScheduleIntervalSeconds: 1,
      WorkingDirectory: '', LogLevel: 'INFO', PosixTimezone: '',
      DefaultAppPermission: 11, DynamicUserIdMin: 61184, DynamicUserIdMax: 65519, DefaultSandbox: 'none',
    });
    expect(doc.REST.RestListenPort).toBe(6060);
    expect(doc.REST.PrometheusExporterListenPort).toBe(0);
    expect(doc.REST.CsrfAllowedOrigins).toEqual([]);
    expect(doc.REST.JWT).toEqual({
      JWTSalt: '', Algorithm: 'HS256', Issuer: '',
      Audience: ['appmesh-service', 'appmesh-file-service', 'your-service-api'], SecurityInterface: 'local',
    });
    expect(doc.REST.SSL.SSLCaPath).toBe('ssl/ca.pem');
    expect(doc.REST.SSL.VerifyServer).toBe(false);
    expect(doc.Labels).toEqual({});
    expect(doc.Version).toBe('2.2.1');
    // The section grows with every bound; these are the ones whose defaults the README promises.
    expect(doc.Limits).toMatchObject({
      MaxOutputBytesPerRun: 104857600, KillGraceSeconds: 3, MaxConcurrentRuns: 256, RequestBodyLimitBytes: 4194304,
      MaxUploadBytes: 2147483648, WorkspaceIdleSeconds: 86400, MaxProcessesPerUser: 1024, MaxMemoryPerUserMB: 0,
      MaxRunsPerUser: 32, MaxAppsPerUser: 256, MaxMcpSessionsPerUser: 32, MaxSubscriptionsPerUser: 64, MaxWorkspacesPerUser: 32,
    });
  });

  test('defaults are not shared between parses', () => {
    const a = defaults();
    a.REST.JWT.Audience.push('x');
    expect(defaults().REST.JWT.Audience).toHaveLength(3);
  });

  test('unknown keys are refused, LogLevel upper-cased, empty Algorithm is HS256', () => {
    expect(configDocumentSchema.safeParse({ Foo: 1 }).success).toBe(false);
    expect(configDocumentSchema.safeParse({ BaseConfig: { Bar: true } }).success).toBe(false);
    expect(configDocumentSchema.safeParse({ REST: { SSL: { VerifyClientt: true } } }).success).toBe(false);
    const doc = configDocumentSchema.parse({ BaseConfig: { LogLevel: 'debug' }, REST: { JWT: { Algorithm: '' } } });
    expect(doc.BaseConfig.LogLevel).toBe('DEBUG');
    expect(doc.REST.JWT.Algorithm).toBe('HS256');
    expect(configDocumentSchema.safeParse({ BaseConfig: { LogLevel: 'LOUD' } }).success).toBe(false);
  });

  test.each([
    [{ BaseConfig: { ScheduleIntervalSeconds: 500 } }],
    [{ BaseConfig: { ScheduleIntervalSeconds: 0 } }],
    [{ REST: { RestListenPort: 0 } }],
    [{ REST: { RestListenPort: 65536 } }],
    [{ REST: { JWT: { Audience: [] } } }],
    [{ REST: { JWT: { SecurityInterface: 'ldap' } } }],
    [{ BaseConfig: { DynamicUserIdMin: 70000, DynamicUserIdMax: 65519 } }],
    [{ BaseConfig: { PosixTimezone: 'Europe/Paris' } }],
    [{ BaseConfig: { DefaultAppPermission: 19 } }],
    [{ BaseConfig: { DefaultAppPermission: 20 } }],
    [{ REST: { ClusterNodes: ['node-b'] } }],
    [{ REST: { ClusterNodes: ['node-b:70000'] } }],
    [{ MQTT: { BrokerUrl: 'broker:1883' } }],
    [{ MQTT: { BrokerUrl: 'http://broker:1883' } }],
  ])('%j is refused, never replaced by a default', (doc) => {
    expect(configDocumentSchema.safeParse(doc).success).toBe(false);
  });
});

describe('env overrides', () => {
  test('string, int, bool and array overrides; non-integer rejected', () => {
    const input = defaults();
    input.Labels = { os_version: 'x' };
    const snapshot = structuredClone(input);
    const { doc, applied, rejected } = applyEnvOverrides(input, {
      APPMESH_BaseConfig_Description: 'my host',
      APPMESH_REST_ForwardTimeoutSeconds: '70',
      APPMESH_REST_RestListenPort: '6061.5',
      APPMESH_REST_SSL_VerifyServer: 'TRUE',
      APPMESH_REST_SSL_VerifyClient: '1',
      APPMESH_REST_CorsDisabled: '0',
      APPMESH_REST_CsrfAllowedOrigins: ' https://a , ,https://b',
      APPMESH_Labels_os_version: 'ubuntu',
    });
    expect(doc.BaseConfig.Description).toBe('my host');
    expect(doc.REST.ForwardTimeoutSeconds).toBe(70);
    expect(doc.REST.RestListenPort).toBe(6060);
    expect(doc.REST.SSL.VerifyServer).toBe(true);
    expect(doc.REST.SSL.VerifyClient).toBe(true);
    expect(doc.REST.CorsDisabled).toBe(false);
    expect(doc.REST.CsrfAllowedOrigins).toEqual(['https://a', 'https://b']);
    expect(doc.Labels.os_version).toBe('ubuntu');
    expect(rejected).toEqual(['APPMESH_REST_RestListenPort']);
    expect(applied).toContain('APPMESH_REST_ForwardTimeoutSeconds');
    expect(applied).not.toContain('APPMESH_REST_RestListenPort');
    expect(input).toEqual(snapshot);
  });

  test('unknown keys and object keys are ignored', () => {
    const input = defaults();
    const { doc, applied, rejected } = applyEnvOverrides(input, {
      APPMESH_BaseConfig_Nope: 'x',
      APPMESH_REST_JWT: 'x',
      APPMESH_Labels_new: 'x',
      PATH: '/bin',
    });
    expect(doc).toEqual(input);
    expect(applied).toEqual([]);
    expect(rejected).toEqual([]);
  });
});

describe('load and save', () => {
  test('missing file gives defaults and does not create it', async () => {
    const loaded = await loadConfig(home, {});
    expect(loaded.stored).toEqual(defaults());
    expect(loaded.effective).toEqual(defaults());
    await expect(stat(configPaths(home).file)).rejects.toThrow();
  });

  test('corrupt YAML throws ConfigError naming the file', async () => {
    const { file } = configPaths(home);
    await mkdir(`${home}/config`, { recursive: true });
    await writeFile(file, 'BaseConfig: [unclosed\n  : :');
    await expect(loadConfig(home, {})).rejects.toBeInstanceOf(ConfigError);
    await expect(loadConfig(home, {})).rejects.toThrow(file);
  });

  test('schema failure throws ConfigError with the issue path', async () => {
    await mkdir(`${home}/config`, { recursive: true });
    await writeFile(configPaths(home).file, 'REST:\n  RestListenPort: abc\n');
    await expect(loadConfig(home, {})).rejects.toThrow(/REST\.RestListenPort/);
  });

  test('save + load round trip, mode 0600, env applied only to effective', async () => {
    const doc = defaults();
    doc.BaseConfig.Description = 'round trip';
    doc.REST.JWT.JWTSalt = 'secret';
    doc.Labels = { team: 'a' };
    await saveConfig(home, doc);
    const st = await stat(configPaths(home).file);
    expect(st.mode & 0o777).toBe(0o600);
    const loaded = await loadConfig(home, { APPMESH_BaseConfig_LogLevel: 'debug', APPMESH_BaseConfig_Description: 'env' });
    expect(loaded.stored).toEqual(doc);
    expect(loaded.effective.BaseConfig.LogLevel).toBe('DEBUG');
    expect(loaded.effective.BaseConfig.Description).toBe('env');
    expect(loaded.envApplied.sort()).toEqual(['APPMESH_BaseConfig_Description', 'APPMESH_BaseConfig_LogLevel']);
    expect(await readFile(configPaths(home).file, 'utf8')).toContain('round trip');
  });

  test.each([
    [{ APPMESH_BaseConfig_LogLevel: 'LOUD' }, /APPMESH_BaseConfig_LogLevel="LOUD": BaseConfig\.LogLevel: "LOUD" is not allowed \(allowed: one of DEBUG, INFO/],
    [{ APPMESH_REST_RestListenPort: 'notaport' }, /APPMESH_REST_RestListenPort="notaport": REST\.RestListenPort must be an integer from 1 to 65535/],
    [{ APPMESH_REST_RestListenPort: '70000' }, /APPMESH_REST_RestListenPort="70000": REST\.RestListenPort: 70000 is out of range \(allowed: an integer from 1 to 65535\)/],
    [{ APPMESH_REST_SSL_VerifyClient: 'yes please' }, /APPMESH_REST_SSL_VerifyClient="yes please": REST\.SSL\.VerifyClient must be true or false/],
  ])('an environment override the key cannot take stops the load: %j', async (env, message) => {
    await expect(loadConfig(home, env)).rejects.toThrow(message);
  });

  test('keys earlier versions wrote load with a warning naming each; unknown keys are refused with a hint', async () => {
    await mkdir(`${home}/config`, { recursive: true });
    await writeFile(configPaths(home).file, 'REST:\n  WorkerThreadPoolSize: 2\n  IOThreadPoolSize: 2\n  SSL:\n    VerifyServerDelegate: false\n');
    const loaded = await loadConfig(home, {});
    expect(loaded.warnings).toEqual([
      expect.stringMatching(/REST\.WorkerThreadPoolSize is no longer used/),
      expect.stringMatching(/REST\.IOThreadPoolSize is no longer used/),
      expect.stringMatching(/REST\.SSL\.VerifyServerDelegate is no longer used/),
    ]);
    expect(loaded.stored).toEqual(defaults());
    await writeFile(configPaths(home).file, 'BaseConfig:\n  LogLevl: DEBUG\n');
    await expect(loadConfig(home, {})).rejects.toThrow('BaseConfig.LogLevl: unknown key (did you mean BaseConfig.LogLevel?)');
  });
});

describe('mergePatch (RFC 7386)', () => {
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  test.each(cases)('%j + %j', (target, patch, expected) => {
    const t = structuredClone(target);
    const p = structuredClone(patch);
    expect(mergePatch(target, patch)).toEqual(expected);
    expect(target).toEqual(t);
    expect(patch).toEqual(p);
  });

  test('result shares no references with the inputs', () => {
    const target = { a: { b: [1] } };
    const patch = { c: { d: [2] } };
    const out = mergePatch(target, patch) as { a: { b: number[] }; c: { d: number[] } };
    out.a.b.push(9);
    out.c.d.push(9);
    expect(target.a.b).toEqual([1]);
    expect(patch.c.d).toEqual([2]);
  });
});

describe('applyConfigPatch', () => {
  function base(): ConfigDocument {
    const doc = defaults();
    doc.REST.JWT.JWTSalt = 'secret';
    doc.Labels = { keep: '1', drop: '2' };
    return doc;
  }

  test('applies a valid patch, ignores Version, merges labels', () => {
    const stored = base();
    const snapshot = structuredClone(stored);
    const result = applyConfigPatch(
      stored,
      { BaseConfig: { LogLevel: 'warn' }, REST: { RestListenPort: 7070 }, Labels: { drop: null, add: 'x' }, Version: '9.9.9' },
      {},
    );
    expect(result.stored.BaseConfig.LogLevel).toBe('WARN');
    expect(result.stored.REST.RestListenPort).toBe(7070);
    expect(result.stored.Labels).toEqual({ keep: '1', add: 'x' });
    expect(result.stored.Version).toBe('2.2.1');
    expect(result.stored.REST.JWT.JWTSalt).toBe('secret');
    expect(result.effective.REST.RestListenPort).toBe(7070);
    expect(stored).toEqual(snapshot);
  });

  test.each([
    [{ REST: { RestListenPort: 'abc' } }, /REST\.RestListenPort: "abc" is not allowed \(allowed: an integer from 1 to 65535\)/],
    [{ REST: { RestListenPrt: 7070 } }, /REST\.RestListenPrt: unknown key \(did you mean REST\.RestListenPort\?\)/],
    [{ REST: { JWT: { SecurityInterface: 'ldap' } } }, /REST\.JWT\.SecurityInterface: "ldap" is not allowed.*only local is supported/],
    [{ REST: { RestListenPort: 70000 } }, /REST\.RestListenPort/],
    [{ REST: { RestListenPort: 0 } }, /REST\.RestListenPort/],
    [{ BaseConfig: { ScheduleIntervalSeconds: 0 } }, /ScheduleIntervalSeconds/],
    [{ BaseConfig: { ScheduleIntervalSeconds: 1.5 } }, /ScheduleIntervalSeconds/],
    [{ REST: { JWT: { Algorithm: 'none' } } }, /Invalid JWT Algorithm/],
    [{ REST: { SSL: { VerifyServer: 'yes' } } }, /REST\.SSL\.VerifyServer/],
    [{ REST: { CsrfAllowedOrigins: 'https://a' } }, /REST\.CsrfAllowedOrigins/],
    [{ REST: { JWT: { JWTSalt: null } } }, /JWTSalt/],
    [[1, 2], /JSON object/],
    ['text', /JSON object/],
    [null, /JSON object/],
  ])('rejects %j without mutating the input', (patch, message) => {
    const stored = base();
    const snapshot = structuredClone(stored);
    const patchCopy = structuredClone(patch);
    expect(() => applyConfigPatch(stored, patch, {})).toThrow(ConfigError);
    expect(() => applyConfigPatch(stored, patch, {})).toThrow(message);
    expect(stored).toEqual(snapshot);
    expect(patch).toEqual(patchCopy);
  });

  test('env overrides win after a patch but are not stored', () => {
    const env = { APPMESH_BaseConfig_LogLevel: 'ERROR', APPMESH_REST_RestListenPort: '6061' };
    const result = applyConfigPatch(base(), { BaseConfig: { LogLevel: 'DEBUG' }, REST: { RestListenPort: 7000 } }, env);
    expect(result.stored.BaseConfig.LogLevel).toBe('DEBUG');
    expect(result.stored.REST.RestListenPort).toBe(7000);
    expect(result.effective.BaseConfig.LogLevel).toBe('ERROR');
    expect(result.effective.REST.RestListenPort).toBe(6061);
  });

  test('what is stored is what runs: no value is replaced behind the client\'s back', () => {
    const result = applyConfigPatch(base(), { REST: { RestListenPort: 80 } }, {});
    expect(result.stored.REST.RestListenPort).toBe(80);
    expect(result.effective.REST.RestListenPort).toBe(80);
  });

  test('a key earlier versions knew is dropped with a warning, not refused', () => {
    const result = applyConfigPatch(base(), { REST: { WorkerThreadPoolSize: 2, CorsDisabled: true } }, {});
    expect(result.warnings).toEqual([expect.stringMatching(/^REST\.WorkerThreadPoolSize is no longer used/)]);
    expect(result.stored.REST).not.toHaveProperty('WorkerThreadPoolSize');
    expect(result.stored.REST.CorsDisabled).toBe(true);
  });
});
