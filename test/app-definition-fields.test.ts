import { describe, expect, test } from 'vitest';
import { appInputSchema, parseAppDefinition } from '../src/supervisor/app-definition.js';

/** What a parse of the whole object answers: the reference the field-by-field parse must match. */
function wholeObjectParse(body: Record<string, unknown>): { error?: string; fields?: Record<string, unknown> } {
  const result = appInputSchema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { error: `Invalid application field '${issue.path.join('.') || 'body'}': ${issue.message}` };
  }
  return { fields: result.data as Record<string, unknown> };
}

function given(body: Record<string, unknown>): { error?: string; definition?: Record<string, unknown> } {
  try {
    return { definition: parseAppDefinition(body, { nameOptional: true, registerTime: 1 }) as Record<string, unknown> };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

const bodies: Record<string, unknown>[] = [
  { command: 'true' },
  { command: '  echo hi  ', name: ' app_1 ' },
  { command: 'x'.repeat(2048) },
  { command: 'a\0b' },
  { command: 'true', env: { A: 1, B: true, C: 'x' } },
  { command: 'true', env: [] },
  { command: 'true', env: { 'A=B': 'x' } },
  { command: 'true', env: { A: 'x\0' }, sec_env: { 'bad=': 'y' } },
  { command: 'true', status: '2', permission: '11', stdout_cache_num: 3 },
  { command: 'true', status: 7 },
  { command: 'true', permission: 100, status: 9 },
  { command: 'true', behavior: { exit: 'RESTART', control: { '0': 'standby', '1': 'remove' } } },
  { command: 'true', behavior: { exit: 'sometimes' } },
  { command: 'true', behavior: { control: { x: 'restart' } } },
  { command: 'true', behavior: null, daily_limitation: { daily_start: '', daily_end: '' } },
  { command: 'true', daily_limitation: { daily_start: '1', daily_end: 'x' } },
  { command: 'true', resource_limit: { memory_mb: null, cpu_shares: '' } },
  { command: 'true', resource_limit: { memory_mb: -1 } },
  { command: 'true', resource_limit: { cpu_shares: 300_000, memory_mb: 'a' } },
  { command: 'true', start_time: '2030-01-01T00:00:00Z', end_time: '', retention: '10m' },
  { command: 'true', start_time: -5 },
  { command: 'true', retention: 'forever' },
  { command: 'true', metadata: '{"a":1}', description: 'd', working_dir: ' /tmp ' },
  { command: 'true', metadata: 'not json', description: 5 },
  { command: 'true', shell: 'yes' },
  { command: 'true', labels: { team: 'a', n: 1 } },
  { command: 'true', labels: { 'bad key': 'a' } },
  { command: 'true', sandbox: 'ISOLATED', sandbox_network: true },
  { command: 'true', sandbox: 'jail' },
  { name: 'bad name!', command: 5 },
  { command: 5, status: 'x' },
  { command: 'true', start_interval_seconds: { not: 'a number' } },
  { command: 'true', unknown_field: 1, docker_image: 7 },
  { command: 'true', version: '3', cron: 'no' },
  {},
];

describe('an app definition is checked field by field, with the answers of a parse of the whole object', () => {
  test.each(bodies.map((body) => [JSON.stringify(body).slice(0, 80), body] as const))('%s', (_label, body) => {
    const reference = wholeObjectParse(body);
    const answer = given(body);
    if (reference.error) {
      expect(answer.error).toBe(reference.error);
      return;
    }
    // Past the schema, the rules that follow it decide alike for both.
    if (answer.error) return;
    const fields = reference.fields!;
    for (const [field, value] of Object.entries(answer.definition!)) {
      if (field in fields && !['status', 'behavior', 'register_time', 'name', 'shell', 'permission', 'stdout_cache_num', 'version', 'start_interval_seconds'].includes(field)) {
        expect(value, field).toEqual(fields[field]);
      }
    }
  });

  test('fields the body leaves out, or sends as null or blank, are not set', () => {
    expect(parseAppDefinition({ command: 'true', description: null, working_dir: '  ', env: [], name: 'a' })).toEqual({
      name: 'a',
      command: 'true',
      status: 1,
      behavior: { exit: 'standby' },
      register_time: expect.any(Number),
    });
  });
});
