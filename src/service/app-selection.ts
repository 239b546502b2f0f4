import { z } from 'zod';
import { APP_LABEL_KEY_PATTERN, APP_LABEL_VALUE_PATTERN, APP_NAME_PATTERN } from '../supervisor/app-definition.js';
import { badRequest } from './errors.js';

/** What one call may do to many apps. */
export const BULK_ACTIONS = ['enable', 'disable', 'delete'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];

/** Most names one call may list (a selector or `all` reach any number of apps). */
export const MAX_BULK_NAMES = 10_000;
const MAX_SELECTOR_LENGTH = 4096;

/**
 * The body of a bulk operation: the action, and which apps: `names`, a label `selector`, or
 * `all` (every app the caller may see). A selector narrows the names, or all apps when no names
 * are given. The schema also describes the body in the OpenAPI document and for MCP clients.
 */
export const bulkRequestSchema = z
  .object({
    action: z.enum(BULK_ACTIONS).describe('enable, disable (stop) or delete'),
    names: z
      .array(z.string().regex(APP_NAME_PATTERN, 'must be 1-128 characters of A-Z, a-z, 0-9, _ and -'))
      .max(MAX_BULK_NAMES)
      .optional()
      .describe('Apps by name'),
    selector: z
      .string()
      .max(MAX_SELECTOR_LENGTH)
      .optional()
      .describe('Label selector: comma-separated key=value, key!=value, key (has it) or !key (lacks it); all must hold'),
    all: z.boolean().optional().describe('Every app the caller may see (supervised apps, not runs)'),
  })
  .strict();

export type BulkRequest = z.infer<typeof bulkRequestSchema>;

/** One requirement of a selector. */
type Requirement = { key: string; op: 'equals' | 'differs'; value: string } | { key: string; op: 'has' | 'lacks' };

/** A parsed label selector: an app matches when every requirement holds. */
export type LabelSelector = readonly Requirement[];

/** The validated selection of a bulk request; every malformed part is a 400 naming it. */
export interface BulkSelection {
  action: BulkAction;
  /** Named apps, in the order given, without repeats. */
  names?: string[];
  selector?: LabelSelector;
}

export function parseBulkRequest(body: unknown): BulkSelection {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The request must be a JSON object with an action and names, a selector or all');
  const result = bulkRequestSchema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.path.join('.') || 'body';
    throw badRequest(`Invalid field '${path}': ${issue.message}`);
  }
  const { action, names, selector, all } = result.data;
  if (names !== undefined && all) throw badRequest('Give either names or all, not both');
  if (names === undefined && selector === undefined && !all) throw badRequest('Say which apps: names, a selector, or all');
  if (names !== undefined && names.length === 0) throw badRequest('names must not be empty');
  return {
    action,
    ...(names !== undefined ? { names: [...new Set(names)] } : {}),
    ...(selector !== undefined ? { selector: parseLabelSelector(selector) } : {}),
  };
}

/** `team=a,env!=prod,tier,!legacy`: every term must hold. */
export function parseLabelSelector(text: string): LabelSelector {
  const terms = text.split(',').map((term) => term.trim());
  if (terms.every((term) => term === '')) throw badRequest('The selector must not be empty');
  return terms.map((term): Requirement => {
    const match = /^(!?)([^=!]+?)\s*(?:(!=|==|=)\s*(.*))?$/.exec(term);
    const key = match?.[2] ?? '';
    if (!match || !APP_LABEL_KEY_PATTERN.test(key)) throw badRequest(`Invalid selector term '${term.slice(0, 64)}': use key=value, key!=value, key or !key`);
    const [, negated, , operator, value] = match;
    if (operator === undefined) return { key, op: negated ? 'lacks' : 'has' };
    if (negated) throw badRequest(`Invalid selector term '${term.slice(0, 64)}': ! goes before a key alone`);
    if (!APP_LABEL_VALUE_PATTERN.test(value)) throw badRequest(`Invalid selector value in '${term.slice(0, 64)}'`);
    return { key, op: operator === '!=' ? 'differs' : 'equals', value };
  });
}

export function matchesSelector(labels: Readonly<Record<string, string>> | undefined, selector: LabelSelector): boolean {
  return selector.every((requirement) => {
    const value = labels && Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined;
    switch (requirement.op) {
      case 'has':
        return value !== undefined;
      case 'lacks':
        return value === undefined;
      case 'equals':
        return value === requirement.value;
      case 'differs':
        return value !== requirement.value;
    }
  });
}
