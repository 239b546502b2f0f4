import { parsePattern, type IgnoreRule } from './ignore-rules.js';

/** Never worth sending: version control, dependencies and build droppings, the assistants' own folders. */
export const SKIPPED_PATTERNS: readonly string[] = ['.git/', 'node_modules/', '__pycache__/', '.agents/', '.claude/', '.codex/', '*.o', '*.pyc'];

/** Never sent, whatever the ignore files or the options say: they hold credentials. */
export const SECRET_PATTERNS: readonly string[] = [
  '.env',
  '.env.*',
  '*.pem',
  '*.key',
  'id_rsa*',
  'id_dsa*',
  'id_ecdsa*',
  'id_ed25519*',
  '*.p12',
  '*.pfx',
  '*.jks',
  '*.keystore',
  'credentials',
  'credentials.json',
  '.netrc',
  '.npmrc',
  '.pypirc',
  '.git-credentials',
];

/** The sync's own files in the remote workspace. */
export const SYNC_MARKER = '.appmesh-sync';
export const SYNC_DELETIONS = '.appmesh-sync-deleted';

const compile = (patterns: readonly string[]): IgnoreRule[] => patterns.flatMap((pattern) => parsePattern(pattern) ?? []);

export const skippedRules = compile(SKIPPED_PATTERNS);
export const secretRules = compile(SECRET_PATTERNS);

/** `APPMESH_SYNC_EXCLUDE`: `.gitignore` patterns separated by commas, spaces or new lines. */
export function extraExcludeRules(value: string | undefined): IgnoreRule[] {
  return compile((value ?? '').split(/[,\s]+/).filter(Boolean));
}

export const matchesAny = (rules: readonly IgnoreRule[], path: string, isDirectory: boolean): boolean =>
  rules.some((rule) => (!rule.onlyDirectories || isDirectory) && rule.regex.test(path));
