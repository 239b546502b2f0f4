import { z } from 'zod';
import { parseDurationSeconds } from './schedule/duration.js';
import { validateCron } from './schedule/recurrence.js';
import { badRequest } from '../service/errors.js';

/**
 * The one schema of an application definition (the input fields of the App Mesh app model).
 * Unknown and read-only fields are dropped, `null` means "not set" and a few values the
 * official SDK examples send (`""` times, `null` limits, `[]` for maps) are read as "not set".
 */

export const APP_NAME_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_COMMAND_LENGTH = 2047;
const DEFAULT_NON_POSITIVE_INTERVAL = 604_800;

export const EXIT_ACTIONS = ['standby', 'restart', 'keepalive', 'remove'] as const;
export type ExitAction = (typeof EXIT_ACTIONS)[number];

/** `isolated`: bubblewrap (read-only system, private /tmp and processes, network only on request). */
export const SANDBOX_PROFILES = ['none', 'isolated'] as const;
export type SandboxProfile = (typeof SANDBOX_PROFILES)[number];

/** Treat `null`, `""` and whitespace-only strings as absent. */
const unset = (value: unknown): unknown => (value === null || (typeof value === 'string' && value.trim() === '') ? undefined : value);
const trimmed = (value: unknown): unknown => (typeof value === 'string' ? value.trim() : value);
const optional = <T extends z.ZodType>(schema: T) => z.preprocess(unset, schema.optional());

const integerLike = z.preprocess(
  (value) => (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value),
  z.number().int(),
);

const epochSeconds = z.preprocess((value) => {
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^-?\d+$/.test(text)) return Number(text);
    const parsed = Date.parse(text);
    return Number.isNaN(parsed) ? value : Math.floor(parsed / 1000);
  }
  return value;
}, z.number().int().min(0, 'must be a non-negative epoch time in seconds'));

const stringMap = z.preprocess(
  // The SDK examples send `[]` for an empty map.
  (value) => (Array.isArray(value) && value.length === 0 ? {} : value),
  z.record(z.string().regex(/^[^=\0]+$/, 'must be a valid environment variable name'), z.preprocess(
    (value) => (typeof value === 'number' || typeof value === 'boolean' ? String(value) : value),
    z.string().refine((text) => !text.includes('\0'), 'must not contain NUL'),
  )),
);

const durationSeconds = z.unknown().transform((value, ctx) => {
  try {
    return parseDurationSeconds(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const exitAction = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
  z.enum(EXIT_ACTIONS, { message: `must be one of ${EXIT_ACTIONS.join(', ')}` }),
);

export const sandboxProfileSchema = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
  z.enum(SANDBOX_PROFILES, { message: `must be one of ${SANDBOX_PROFILES.join(', ')}` }),
);

const behaviorSchema = z.object({
  exit: z.preprocess(unset, exitAction.default('standby')),
  control: optional(z.record(z.string().regex(/^-?\d+$/, 'control keys must be integer exit codes'), exitAction)),
});

const dailyLimitationSchema = z.preprocess(
  (value) => {
    // The JS SDK example sends `{"daily_start": "", "daily_end": ""}`: not set.
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const window = value as Record<string, unknown>;
      if (unset(window.daily_start) === undefined && unset(window.daily_end) === undefined) return undefined;
    }
    return value;
  },
  z.object({ daily_start: integerLike, daily_end: integerLike }).optional(),
);

const resourceLimitSchema = z.preprocess(
  (value) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const limit = value as Record<string, unknown>;
      if (Object.values(limit).every((entry) => unset(entry) === undefined)) return undefined;
    }
    return value;
  },
  z.object({
    memory_mb: optional(integerLike.pipe(z.number().min(0))),
    memory_virt_mb: optional(integerLike.pipe(z.number().min(0))),
    cpu_shares: optional(integerLike.pipe(z.number().min(0).max(262_144))),
  }).optional(),
);

/** Label keys and values as a selector can name them (no `=`, `,` or `!` inside). */
export const APP_LABEL_KEY_PATTERN = /^[A-Za-z0-9_.\/-]{1,128}$/;
export const APP_LABEL_VALUE_PATTERN = /^[A-Za-z0-9_.\/-]{0,256}$/;
const MAX_APP_LABELS = 64;
const appLabels = z.preprocess(
  (value) => (Array.isArray(value) && value.length === 0 ? {} : value),
  z.record(
    z.string().regex(APP_LABEL_KEY_PATTERN, 'label keys must be 1-128 characters of A-Z, a-z, 0-9, _ . / and -'),
    z.preprocess((value) => (typeof value === 'number' || typeof value === 'boolean' ? String(value) : value),
      z.string().regex(APP_LABEL_VALUE_PATTERN, 'label values must be up to 256 characters of A-Z, a-z, 0-9, _ . / and -')),
  ).refine((labels) => Object.keys(labels).length <= MAX_APP_LABELS, `at most ${MAX_APP_LABELS} labels`),
);

const commandText = z.preprocess(trimmed, z.string().max(MAX_COMMAND_LENGTH, 'must be shorter than 2048 characters').refine((text) => !text.includes('\0'), 'must not contain NUL'));

export const appInputSchema = z.object({
  name: optional(z.preprocess(trimmed, z.string().regex(APP_NAME_PATTERN, 'must be 1-128 characters of A-Z, a-z, 0-9, _ and -'))),
  command: optional(commandText),
  shell: optional(z.boolean()),
  session_login: optional(z.boolean()),
  description: optional(z.string().max(4096)),
  metadata: z.preprocess((value) => {
    if (typeof value === 'string') {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return value;
      }
    }
    return value;
  }, z.unknown()).optional(),
  working_dir: optional(z.preprocess(trimmed, z.string().max(4096).refine((text) => !text.includes('\0'), 'must not contain NUL'))),
  status: optional(integerLike.pipe(z.number().min(0).max(2))),
  permission: optional(integerLike.pipe(z.number().min(0).max(99))),
  env: optional(stringMap),
  sec_env: optional(stringMap),
  docker_image: optional(z.string()),
  stdout_cache_num: optional(integerLike.pipe(z.number().min(0).max(1024))),
  health_check_cmd: optional(commandText),
  start_time: optional(epochSeconds),
  end_time: optional(epochSeconds),
  daily_limitation: dailyLimitationSchema,
  start_interval_seconds: optional(z.union([z.number(), z.string()])),
  cron: optional(z.boolean()),
  retention: optional(durationSeconds),
  behavior: optional(behaviorSchema),
  resource_limit: resourceLimitSchema,
  version: optional(integerLike),
  /** Absent: the owner's default, else BaseConfig.DefaultSandbox. */
  sandbox: optional(sandboxProfileSchema),
  /** An isolated run has no network unless this is true. */
  sandbox_network: optional(z.boolean()),
  /** Free key=value tags that bulk operations select apps by (`team=a`). */
  labels: optional(appLabels),
});

/** A validated definition, as stored (without the owner's plain secrets: see `sec_env`). */
export interface AppDefinition {
  name: string;
  command?: string;
  shell?: boolean;
  session_login?: boolean;
  description?: string;
  metadata?: unknown;
  working_dir?: string;
  status: 0 | 1 | 2;
  owner?: string;
  permission?: number;
  env?: Record<string, string>;
  sec_env?: Record<string, string>;
  stdout_cache_num?: number;
  health_check_cmd?: string;
  start_time?: number;
  end_time?: number;
  daily_limitation?: { daily_start: number; daily_end: number };
  /** Seconds for interval apps; the cron expression when `cron` is true. */
  start_interval_seconds?: number | string;
  cron?: boolean;
  retention?: number;
  behavior: { exit: ExitAction; control?: Record<string, ExitAction> };
  resource_limit?: { memory_mb?: number; memory_virt_mb?: number; cpu_shares?: number };
  register_time: number;
  version?: number;
  sandbox?: SandboxProfile;
  sandbox_network?: boolean;
  labels?: Record<string, string>;
}

export interface ParseAppOptions {
  /** Name to use when the body has none (the path name of `PUT /appmesh/app/{name}`). */
  fallbackName?: string;
  /** Runs (`run`/`syncrun`) may omit the name; the caller generates one. */
  nameOptional?: boolean;
  registerTime?: number;
}

export type ParsedApp = Omit<AppDefinition, 'name'> & { name?: string };

/** Validates an app JSON body; every failure is a 400 naming the field. */
export function parseAppDefinition(body: unknown, options: ParseAppOptions = {}): ParsedApp {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('Application definition must be a JSON object');
  }
  const input = parseGivenFields(body as Record<string, unknown>);
  const name = input.name ?? options.fallbackName;
  if (name === undefined && !options.nameOptional) throw badRequest('Application name is required');
  if (name !== undefined && !APP_NAME_PATTERN.test(name)) throw badRequest("Invalid application field 'name': must be 1-128 characters of A-Z, a-z, 0-9, _ and -");
  if (input.docker_image !== undefined) throw badRequest('docker_image is not supported by this daemon');
  if (input.start_time !== undefined && input.end_time !== undefined && input.start_time > input.end_time) {
    throw badRequest('start_time must not be later than end_time');
  }
  if (input.resource_limit?.memory_virt_mb) {
    const memory = input.resource_limit.memory_mb ?? 0;
    if (memory <= 0 || input.resource_limit.memory_virt_mb < memory) {
      throw badRequest('resource_limit.memory_virt_mb needs memory_mb > 0 and must not be below it');
    }
  }
  if (input.sandbox === 'none' && input.sandbox_network === false) {
    throw badRequest("Invalid application field 'sandbox_network': only an isolated sandbox can turn the network off");
  }
  if (input.resource_limit?.cpu_shares === 1) throw badRequest('resource_limit.cpu_shares must be 0 or 2-262144');

  let interval: number | string | undefined;
  if (input.start_interval_seconds !== undefined) {
    if (input.cron) {
      const expression = String(input.start_interval_seconds).trim();
      try {
        validateCron(expression);
      } catch (error) {
        throw badRequest(`Invalid application field 'start_interval_seconds': ${(error as Error).message}`);
      }
      interval = expression;
    } else {
      const raw = input.start_interval_seconds;
      try {
        // The original silently turns a non-positive interval into one week.
        interval = (typeof raw === 'number' && raw < 0) || /^\s*-\d+\s*$/.test(String(raw)) ? 0 : parseDurationSeconds(raw);
      } catch (error) {
        throw badRequest(`Invalid application field 'start_interval_seconds': ${(error as Error).message}`);
      }
      if (interval <= 0) interval = DEFAULT_NON_POSITIVE_INTERVAL;
    }
  } else if (input.cron) {
    throw badRequest("Invalid application field 'start_interval_seconds': a cron app needs a cron expression");
  }

  const isEmpty = (map?: Record<string, string>) => !map || Object.keys(map).length === 0;
  const definition: ParsedApp = {
    name,
    command: input.command,
    shell: input.shell || undefined,
    session_login: input.session_login || undefined,
    description: input.description,
    metadata: input.metadata === null ? undefined : input.metadata,
    working_dir: input.working_dir,
    status: input.status === 0 ? 0 : 1,
    permission: input.permission || undefined,
    env: isEmpty(input.env) ? undefined : input.env,
    sec_env: isEmpty(input.sec_env) ? undefined : input.sec_env,
    stdout_cache_num: input.stdout_cache_num || undefined,
    health_check_cmd: input.health_check_cmd,
    start_time: input.start_time,
    end_time: input.end_time,
    daily_limitation: input.daily_limitation,
    start_interval_seconds: interval,
    cron: interval !== undefined && input.cron ? true : undefined,
    retention: input.retention || undefined,
    behavior: { exit: input.behavior?.exit ?? 'standby', ...(input.behavior?.control && Object.keys(input.behavior.control).length ? { control: input.behavior.control } : {}) },
    resource_limit: input.resource_limit && Object.values(input.resource_limit).some((value) => value) ? input.resource_limit : undefined,
    register_time: options.registerTime ?? Math.floor(Date.now() / 1000),
    version: input.version || undefined,
    sandbox: input.sandbox,
    sandbox_network: input.sandbox_network,
    labels: isEmpty(input.labels) ? undefined : input.labels,
  };
  if (!definition.command) throw badRequest('Application command is required');
  return stripUndefined(definition);
}

type AppInput = z.infer<typeof appInputSchema>;
const APP_INPUT_FIELDS = Object.entries(appInputSchema.shape) as [keyof AppInput, z.ZodType][];

/**
 * The schema applied to the fields a body gives only: an absent field reads as not set whatever
 * its schema, and a body gives a few of the schema's many fields (a run, most often, its command
 * alone). Fields are checked in the schema's order, so the first failure is the one a parse of the
 * whole object reports first.
 */
function parseGivenFields(body: Record<string, unknown>): AppInput {
  const input: Record<string, unknown> = {};
  for (const [field, schema] of APP_INPUT_FIELDS) {
    const value = body[field];
    if (value === undefined) continue;
    const result = schema.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw badRequest(`Invalid application field '${[field, ...issue.path].join('.')}': ${issue.message}`);
    }
    if (result.data !== undefined) input[field] = result.data;
  }
  return input as AppInput;
}

function stripUndefined<T extends object>(value: T): T {
  // A plain object literal: its own keys only, without an array of entries per call.
  const fields = value as Record<string, unknown>;
  const defined: Record<string, unknown> = {};
  for (const key in fields) if (fields[key] !== undefined) defined[key] = fields[key];
  return defined as T;
}
