import { PID_FILE } from '../store/instance-lock.js';

export const DAEMON_USAGE = `Usage: appmesh-ts [--home <dir>] [--config <file>]

Runs the App Mesh TS daemon in the foreground (a service manager keeps it running).

Options:
  --home <dir>      folder of all state (default: $APPMESH_HOME, else ~/.appmesh)
  --config <file>   configuration file to read and save instead of <home>/config/config.yaml
  -h, --help        print this help and exit
  -V, --version     print the version and exit

Environment:
  APPMESH_HOME               the home folder (--home wins)
  APPMESH_ADMIN_PASSWORD     password of 'admin' at the first start (else generated and printed once)
  APPMESH_<Section>_<Key>    overrides a configuration key, e.g. APPMESH_REST_RestListenPort=6061

Signals:
  SIGTERM, SIGINT   stop the applications (within Limits.KillGraceSeconds) and exit;
                    a second one a moment later exits at once
  SIGHUP            re-read the configuration file

One daemon runs per home: <home>/${PID_FILE} holds its pid (kill -HUP $(cat <home>/${PID_FILE})).
`;

export const MCP_USAGE = `Usage: appmesh-mcp

The App Mesh MCP server over stdio, for local MCP clients (stdin/stdout carry the protocol).

  APPMESH_URL + APPMESH_TOKEN   relay every message to that daemon's /mcp (or log in there as
                                APPMESH_USER/APPMESH_PASSWORD, APPMESH_TOTP_CODE with 2FA)
  APPMESH_HOME                  serve in this process as the daemon of that home (without a
                                network listener), as APPMESH_USER/APPMESH_PASSWORD or APPMESH_TOKEN;
                                refused while another daemon holds the home

Options:
  -h, --help      print this help and exit
  -V, --version   print the version and exit
`;
