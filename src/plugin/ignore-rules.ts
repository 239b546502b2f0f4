/**
 * `.gitignore` patterns: what a project does not want copied. Each file's patterns apply below
 * its own folder; the last pattern that matches decides (a `!` pattern re-includes).
 */
export interface IgnoreRule {
  /** Matched against the path relative to the folder that holds the rule. */
  regex: RegExp;
  negated: boolean;
  onlyDirectories: boolean;
}

export interface IgnoreScope {
  /** The folder the rules were read in, relative to the project root ('' for the root). */
  base: string;
  rules: IgnoreRule[];
}

/** Parses the text of a `.gitignore` file. */
export function parseIgnoreFile(text: string): IgnoreRule[] {
  return text.split(/\r?\n/).flatMap((line) => {
    const rule = parsePattern(line);
    return rule ? [rule] : [];
  });
}

export function parsePattern(line: string): IgnoreRule | undefined {
  // Trailing spaces are dropped unless escaped.
  let pattern = line.replace(/(?<!\\)\s+$/, '');
  if (!pattern || pattern.startsWith('#')) return undefined;
  let negated = false;
  if (pattern.startsWith('!')) {
    negated = true;
    pattern = pattern.slice(1);
  } else if (pattern.startsWith('\\!') || pattern.startsWith('\\#')) {
    pattern = pattern.slice(1);
  }
  let onlyDirectories = false;
  if (pattern.endsWith('/')) {
    onlyDirectories = true;
    pattern = pattern.replace(/\/+$/, '');
  }
  if (!pattern) return undefined;
  // A slash anywhere but at the end anchors the pattern to its folder; without one it matches at any depth.
  const anchored = pattern.includes('/');
  pattern = pattern.replace(/^\//, '');
  const body = globToRegexSource(pattern);
  return { regex: new RegExp(anchored ? `^${body}$` : `(?:^|/)${body}$`), negated, onlyDirectories };
}

function globToRegexSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === '*') {
      if (glob[i + 1] === '*') {
        const before = i === 0 || glob[i - 1] === '/';
        const after = glob[i + 2];
        if (before && after === '/') {
          out += '(?:.*/)?';
          i += 2;
          continue;
        }
        if (before && after === undefined) {
          out += '.*';
          i += 1;
          continue;
        }
      }
      out += '[^/]*';
    } else if (char === '?') {
      out += '[^/]';
    } else if (char === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) {
        out += '\\[';
        continue;
      }
      let set = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
      if (set.startsWith('!')) set = `^${set.slice(1)}`;
      out += `[${set}]`;
      i = end;
    } else if (char === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[++i]);
    } else {
      out += escapeRegex(char);
    }
  }
  return out;
}

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Whether the rules of these scopes (outermost first) ignore a path of the project. */
export function isIgnored(scopes: readonly IgnoreScope[], path: string, isDirectory: boolean): boolean {
  let ignored = false;
  for (const scope of scopes) {
    if (scope.base && !path.startsWith(`${scope.base}/`)) continue;
    const relative = scope.base ? path.slice(scope.base.length + 1) : path;
    for (const rule of scope.rules) {
      if (rule.onlyDirectories && !isDirectory) continue;
      if (rule.negated === ignored && rule.regex.test(relative)) ignored = !rule.negated;
    }
  }
  return ignored;
}
