import type { CommandSpec } from './args.js';

export const DEFAULT_HOST = 'http://127.0.0.1:6060';

/** Options every command takes. */
export const GLOBAL_SPEC = {
  switches: ['verbose', 'help'],
  options: ['host-url', 'forward-to', 'user', 'password', 'totp'],
  short: { H: 'host-url', F: 'forward-to', U: 'user', X: 'password', v: 'verbose', h: 'help' },
} as const satisfies CommandSpec;

export const GLOBAL_HELP = `Global options (every command):
  -H, --host-url URL      daemon to talk to (default: APPMESH_URL, else the last logon's host, else ${DEFAULT_HOST})
  -F, --forward-to HOST   relay the request to another node of the cluster (host:port)
  -U, --user NAME         log on for this command only (not stored)
  -X, --password TEXT     its password (prompted when missing)
      --totp CODE         the TOTP code when the user has 2FA on (prompted when missing)
  -v, --verbose           show requests and failures in detail
  -h, --help              help of the command
Environment: APPMESH_URL (the host), APPMESH_TOKEN (a token to use when none is stored).`;

/** Not logged on: nothing stored for the host and no -U. */
export class NotLoggedOn extends Error {}
