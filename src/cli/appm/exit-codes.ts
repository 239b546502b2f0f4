import type { AppMeshError } from '../../client/errors.js';

/** The exit codes of `appm` (listed in `appm --help`). `run` and `exec` exit with the remote command's code. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 69,
  forbidden: 77,
  logOn: 80,
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    the request failed (the message says why)
  2    usage error (unknown command or option, missing value)
  69   the host did not answer (check -H, APPMESH_URL or the last logon's host)
  77   permission denied (the message names the permission)
  80   not logged on, or the token expired or was revoked: run 'appm logon'
  130  interrupted (Ctrl-C); a remote run is stopped first
  run and exec exit with the remote command's exit code.`;

export function exitCodeOf(error: AppMeshError): number {
  switch (error.kind) {
    case 'unreachable':
      return EXIT.unreachable;
    case 'forbidden':
      return EXIT.forbidden;
    case 'unauthorized':
    case 'expired':
    case 'totp-required':
      return EXIT.logOn;
    default:
      return EXIT.failed;
  }
}
