import { readFileSync } from 'node:fs';
import type { UserInput, UserView } from '../../client/types.js';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { EXIT } from './exit-codes.js';
import { outputFormat, render, table } from './format.js';
import { askHidden, confirm } from './prompt.js';

async function newPassword(question: string): Promise<string> {
  const first = await askHidden(question);
  const again = await askHidden('Repeat it: ');
  if (first !== again) throw new UsageError('the two passwords differ');
  if (!first) throw new UsageError('an empty password is not allowed');
  return first;
}

const passwd: Command = {
  spec: { options: ['target'], short: { t: 'target' } },
  help: `Usage: appm passwd [-t USER]

Changes a password (yours unless -t). Asks for the current password, then the new one twice
(from the terminal, or lines of stdin when piped).`,
  async run(context) {
    const target = context.args.options.get('target') ?? 'self';
    const client = await context.client();
    const current = await askHidden(target === 'self' ? 'Current password: ' : `Current password of ${target}: `);
    const replacement = await newPassword('New password: ');
    process.stdout.write(`${await client.users.changePassword(target, current, replacement)}\n`);
    return EXIT.ok;
  },
};

const lock: Command = {
  spec: { options: ['target', 'lock'], switches: ['unlock'], short: { t: 'target', k: 'lock' } },
  help: `Usage: appm lock -t USER [-k true|false] | appm lock -t USER --unlock

Locks a user (its tokens stop working, it cannot log on), or unlocks it with -k false.`,
  async run(context) {
    const target = context.args.options.get('target');
    if (!target) throw new UsageError('lock needs -t USER');
    const value = context.args.options.get('lock') ?? (context.args.switches.has('unlock') ? 'false' : 'true');
    if (!/^(true|false)$/i.test(value)) throw new UsageError(`-k takes true or false, not '${value}'`);
    const client = await context.client();
    const locking = /^true$/i.test(value);
    process.stdout.write(`${locking ? await client.users.lock(target) : await client.users.unlock(target)}\n`);
    return EXIT.ok;
  },
};

function userRows(users: Record<string, UserView>): string[][] {
  return Object.entries(users).map(([name, user]) => [
    name,
    String(user.group || '-'),
    Array.isArray(user.roles) ? user.roles.join(',') || '-' : '-',
    user.locked ? 'yes' : 'no',
    user.mfa_enabled ? 'on' : 'off',
    String(user.exec_user || '-'),
  ]);
}

const user: Command = {
  spec: {
    switches: ['all', 'force'],
    options: ['add', 'remove', 'group', 'email', 'json', 'format'],
    repeatable: ['role'],
    short: { A: 'all', f: 'force', g: 'group', r: 'role', j: 'json' },
  },
  help: `Usage: appm user [-A] [--add NAME [-g GROUP] [-r ROLE…] [--email MAIL]] [--remove NAME [-f]] [-j FILE]

Without options: you. -A: every user (table, or --format json|yaml).
  -A, --all            list every user
      --add NAME       add a user (its password is asked for, twice)
  -g, --group GROUP    its group
  -r, --role ROLE      a role of it (repeatable)
      --email MAIL     its e-mail
      --remove NAME    remove a user (asks first unless -f)
  -j, --json FILE      add or update users from a JSON file: {"name": {"key": …, "roles": […]}, …}
      --format FORMAT  table, json or yaml`,
  async run(context) {
    const { switches, options, lists } = context.args;
    const client = await context.client();
    const format = outputFormat(options.get('format'), 'table');
    const added = options.get('add');
    if (added) {
      const input: UserInput = { key: await newPassword(`Password of ${added}: `), group: options.get('group'), email: options.get('email'), roles: lists.get('role') };
      process.stdout.write(`${await client.users.put(added, input)}\n`);
      return EXIT.ok;
    }
    const file = options.get('json');
    if (file) {
      const users = JSON.parse(readFileSync(file, 'utf8')) as Record<string, UserInput>;
      for (const [name, input] of Object.entries(users)) process.stdout.write(`${name}: ${await client.users.put(name, input)}\n`);
      return EXIT.ok;
    }
    const removed = options.get('remove');
    if (removed) {
      if (!switches.has('force') && !(process.stdin.isTTY && (await confirm(`Remove user ${removed}?`)))) {
        process.stderr.write('appm: not removed (add -f to remove without asking)\n');
        return EXIT.failed;
      }
      process.stdout.write(`${await client.users.remove(removed)}\n`);
      return EXIT.ok;
    }
    if (switches.has('all')) {
      const users = await client.users.list();
      process.stdout.write(format === 'table' ? table(['NAME', 'GROUP', 'ROLES', 'LOCKED', 'MFA', 'EXEC_USER'], userRows(users)) : await render(users, format));
      return EXIT.ok;
    }
    process.stdout.write(await render(await client.users.self(), format === 'table' ? 'yaml' : format));
    return EXIT.ok;
  },
};

const mfa: Command = {
  spec: { switches: ['add', 'delete'], options: ['target', 'password-proof'], short: { a: 'add', d: 'delete', t: 'target' } },
  help: `Usage: appm mfa [-a | -d [-t USER]]

Two-factor authentication (TOTP). Without options: whether it is on for you.
  -a, --add          turn it on: shows the secret (otpauth:// URI) for an authenticator app,
                     then asks for its current code (or --totp CODE). If it is on already,
                     --totp must be a code of the current secret.
  -d, --delete       turn it off (yours, or another user's with -t and user-totp-disable)
  -t, --target USER  with -d`,
  async run(context) {
    const { switches, options } = context.args;
    const client = await context.client();
    if (switches.has('add')) {
      const self = await client.users.self();
      const uri = await client.totpSecret(self.mfa_enabled ? { totpCode: options.get('totp') } : {});
      const secret = new URL(uri).searchParams.get('secret') ?? '';
      process.stdout.write(`Add this to your authenticator app:\n  ${uri}\n  secret: ${secret}\n`);
      const code = self.mfa_enabled || !options.get('totp') ? (await askHidden('TOTP code: ')).trim() : options.get('totp')!;
      await client.totpSetup(code);
      process.stdout.write('2FA is on: logons now ask for a TOTP code\n');
      return EXIT.ok;
    }
    if (switches.has('delete')) {
      process.stdout.write(`${await client.totpDisable(options.get('target') ?? 'self')}\n`);
      return EXIT.ok;
    }
    const self = await client.users.self();
    process.stdout.write(`2FA is ${self.mfa_enabled ? 'on' : 'off'} for ${String(self.name ?? 'you')}\n`);
    return EXIT.ok;
  },
};

export const commands: Record<string, Command> = { passwd, lock, user, mfa };
