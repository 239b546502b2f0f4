/**
 * Splits a command line into argv the way a POSIX shell would for plain words: whitespace
 * separates, single quotes are literal, double quotes allow `\"` `\\` `\$` escapes, a backslash
 * outside quotes escapes the next character. No expansion of any kind happens.
 */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  let current = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (quote === "'") {
      if (char === "'") quote = undefined;
      else current += char;
      continue;
    }
    if (quote === '"') {
      if (char === '"') quote = undefined;
      else if (char === '\\' && index + 1 < line.length && '"\\$`'.includes(line[index + 1])) current += line[++index];
      else current += char;
      continue;
    }
    if (/\s/.test(char)) {
      if (inWord) args.push(current);
      current = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (char === "'" || char === '"') quote = char;
    else if (char === '\\' && index + 1 < line.length) current += line[++index];
    else current += char;
  }
  if (quote) throw new Error(`unterminated ${quote} quote in command`);
  if (inWord) args.push(current);
  return args;
}
