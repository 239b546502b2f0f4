/**
 * Questions to the person at the terminal, or lines read from a pipe when there is none
 * (`printf 'secret\n123456\n' | appm logon -U alice`).
 */
let buffered = '';
let ended = false;
let waiting: (() => void) | undefined;
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buffered += chunk;
    waiting?.();
  });
  process.stdin.on('end', () => {
    ended = true;
    waiting?.();
  });
}

/** The next line of stdin (without its newline), or undefined at its end. */
export async function readLine(): Promise<string | undefined> {
  listen();
  process.stdin.resume();
  try {
    for (;;) {
      const newline = buffered.indexOf('\n');
      if (newline >= 0) {
        const line = buffered.slice(0, newline).replace(/\r$/, '');
        buffered = buffered.slice(newline + 1);
        return line;
      }
      if (ended) {
        const rest = buffered;
        buffered = '';
        return rest === '' ? undefined : rest;
      }
      await new Promise<void>((resolve) => (waiting = resolve));
      waiting = undefined;
    }
  } finally {
    process.stdin.pause();
  }
}

/** Asks on stderr (stdout stays for results) and reads the answer. */
export async function ask(question: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(question);
  const answer = await readLine();
  if (answer === undefined) throw new Error(`no answer to "${question.trim()}" (stdin ended)`);
  return answer;
}

/** Asks without echoing what is typed (passwords, codes). */
export async function askHidden(question: string): Promise<string> {
  const input = process.stdin;
  if (!input.isTTY) return ask(question);
  process.stderr.write(question);
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  try {
    let answer = '';
    for (;;) {
      const chunk = await new Promise<string>((resolve) => input.once('data', resolve));
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          process.stderr.write('\n');
          return answer;
        }
        if (char === '\u0003') {
          process.stderr.write('\n');
          process.exit(130);
        }
        if (char === '\u007f' || char === '\b') answer = answer.slice(0, -1);
        else answer += char;
      }
    }
  } finally {
    input.setRawMode(false);
    input.pause();
  }
}

/** A yes/no question; without a terminal the answer is no unless the line says yes. */
export async function confirm(question: string): Promise<boolean> {
  const answer = await ask(`${question} [y/N]: `).catch(() => '');
  return /^y(es)?$/i.test(answer.trim());
}
