import { join } from 'node:path';
import { UsageError } from './args.js';
import type { Command } from './command.js';
import { EXIT } from './exit-codes.js';
import { askHidden } from './prompt.js';

const appmgpwd: Command = {
  spec: { positionals: true },
  help: `Usage: appm appmgpwd [PASSWORD…]

Prints the hash of each password (as the security file stores them: PBKDF2-SHA256), or of one
password asked for when none is given. Nothing is sent anywhere.`,
  async run(context) {
    const { hashPassword } = await import('../../auth/password.js');
    const passwords = context.args.positionals.length ? context.args.positionals : [await askHidden('Password: ')];
    for (const password of passwords) process.stdout.write(`${await hashPassword(password)}\n`);
    return EXIT.ok;
  },
};

const appmginit: Command = {
  spec: { options: ['home'] },
  help: `Usage: appm appmginit [--home DIR]

Sets the password of 'admin' in a daemon's home (default APPMESH_HOME), asked for twice. For the
host's administrator (root) while the daemon is stopped: every earlier token of admin ends.`,
  async run(context) {
    if (process.getuid?.() !== 0) {
      process.stderr.write('appm: appmginit is for root (it writes the daemon\'s security file)\n');
      return EXIT.forbidden;
    }
    const home = context.args.options.get('home') ?? process.env.APPMESH_HOME;
    if (!home) throw new UsageError('appmginit needs --home DIR (or APPMESH_HOME)');
    const [{ SecurityStore, endTokensIssuedUntil }, { hashPassword }] = await Promise.all([import('../../auth/security-store.js'), import('../../auth/password.js')]);
    const file = join(home, 'config', 'security.yaml');
    const password = await askHidden('New password of admin: ');
    if (password !== (await askHidden('Repeat it: '))) throw new UsageError('the two passwords differ');
    const key = await hashPassword(password);
    const store = await SecurityStore.open(file);
    if (!store) await SecurityStore.create(file, key);
    else {
      await store.update((doc) => {
        const admin = doc.Users.admin;
        if (!admin) throw new Error(`${file} has no user admin`);
        admin.key = doc.EncryptKey ? key : password;
        endTokensIssuedUntil(admin);
      });
    }
    process.stdout.write(`Password of admin set in ${file}\n`);
    return EXIT.ok;
  },
};

export const commands: Record<string, Command> = { appmgpwd, appmginit };
