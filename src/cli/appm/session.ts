import { AppMeshClient } from '../../client/appmesh-client.js';
import { parseDurationText } from './durations.js';
import type { Command } from './command.js';
import { askUser, logOn } from './context.js';
import { EXIT } from './exit-codes.js';

const logon: Command = {
  spec: { switches: ['show-token'], options: ['timeout', 'audience'], short: { t: 'timeout', a: 'audience' } },
  help: `Usage: appm logon [-U NAME] [-X PASSWORD] [--totp CODE] [-t DURATION] [-a AUDIENCE] [--show-token]

Logs on to the host and stores its token (never the password) for the next commands, in a
per-user file of mode 0600. Asks for what is missing: the user, the password, and the TOTP code
when the user has 2FA on (from the terminal, or a line of stdin when piped).

  -t, --timeout DURATION   token lifetime: seconds or ISO 8601 (P1D, PT8H); default the daemon's
  -a, --audience NAME      token audience
      --show-token         print the token`,
  async run(context) {
    const options = context.args.options;
    const user = options.get('user') ?? (await askUser());
    const client = context.anonymous();
    const timeout = options.get('timeout');
    const answer = await logOn(client, user, options.get('password'), options.get('totp'), timeout ? parseDurationText(timeout) : undefined, options.get('audience'));
    const previous = context.store.get(client.url);
    context.store.put(client.url, { token: answer.access_token, user, expire_time: answer.expire_time });
    // The token it replaces is revoked, not left valid in no one's keeping.
    if (previous && previous.token !== answer.access_token) await new AppMeshClient({ url: client.url, token: previous.token }).logoff().catch(() => undefined);
    process.stdout.write(`Logged on to ${client.url} as ${user}, until ${new Date(answer.expire_time * 1000).toISOString()}\n`);
    if (context.args.switches.has('show-token')) process.stdout.write(`${answer.access_token}\n`);
    return EXIT.ok;
  },
};

const logoff: Command = {
  spec: { switches: ['all'] },
  help: `Usage: appm logoff [--all]

Revokes the stored token of the host and forgets it.
      --all   end every session of the user, on every client`,
  async run(context) {
    const stored = context.store.get(context.host);
    if (!stored) {
      process.stdout.write(`Not logged on to ${context.host}\n`);
      return EXIT.ok;
    }
    try {
      const client = new AppMeshClient({ url: context.host, token: stored.token });
      await client.logoff({ all: context.args.switches.has('all') });
    } catch (error) {
      // A token the daemon already refuses is as good as revoked: it is forgotten all the same.
      context.debug(`logoff: ${(error as Error).message}`);
    }
    context.store.remove(context.host);
    process.stdout.write(`Logged off ${stored.user} from ${context.host}\n`);
    return EXIT.ok;
  },
};

const loginfo: Command = {
  spec: { switches: ['show-token'] },
  help: `Usage: appm loginfo [--show-token]

Shows the host, the user logged on there and until when (from the stored session).`,
  async run(context) {
    const stored = context.store.get(context.host);
    if (!stored) {
      process.stdout.write(`Not logged on to ${context.host}\n`);
      return EXIT.logOn;
    }
    const until = stored.expire_time ? new Date(stored.expire_time * 1000).toISOString() : 'unknown';
    process.stdout.write(`host: ${context.host}\nuser: ${stored.user}\nexpires: ${until}\nsession file: ${context.store.file}\n`);
    if (context.args.switches.has('show-token')) process.stdout.write(`token: ${stored.token}\n`);
    return EXIT.ok;
  },
};

export const commands: Record<string, Command> = { logon, logoff, loginfo };
