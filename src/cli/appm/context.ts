import { AppMeshClient } from '../../client/appmesh-client.js';
import { AppMeshError } from '../../client/errors.js';
import { normalizeUrl } from '../../client/session.js';
import type { TokenResponse } from '../../client/types.js';
import type { ParsedCommand } from './args.js';
import { DEFAULT_HOST, NotLoggedOn } from './globals.js';
import { ask, askHidden } from './prompt.js';
import { TokenStore } from './token-store.js';

/** Where a command gets its host, its session and its way of asking things. */
export class Context {
  readonly store = new TokenStore();
  readonly host: string;
  /** How the host was chosen, for error messages. */
  readonly hostSource: string;
  readonly verbose: boolean;
  private oneShot?: AppMeshClient;

  constructor(readonly args: ParsedCommand) {
    const flag = args.options.get('host-url');
    const env = process.env.APPMESH_URL;
    const stored = flag || env ? undefined : this.store.currentHost();
    this.host = normalizeUrl(flag || env || stored || DEFAULT_HOST);
    this.hostSource = flag ? '-H' : env ? 'APPMESH_URL' : stored ? `the last logon (${this.store.file})` : 'the default';
    this.verbose = args.switches.has('verbose');
  }

  debug(text: string): void {
    if (this.verbose) process.stderr.write(`appm: ${text}\n`);
  }

  /** With -v, each request and its answer on stderr. */
  private readonly onExchange = (exchange: { method: string; url: string; status: number; ms: number }) =>
    this.debug(`${exchange.method} ${exchange.url} -> ${exchange.status || 'no answer'} (${exchange.ms.toFixed(0)} ms)`);

  /** A client of the host without a session (logon). */
  anonymous(onToken?: (token: TokenResponse | undefined) => void): AppMeshClient {
    return new AppMeshClient({ url: this.host, onToken, forwardTo: this.args.options.get('forward-to'), onExchange: this.onExchange });
  }

  /**
   * A logged-on client: for this command only with -U, else the stored session (renewed tokens
   * are stored again), else APPMESH_TOKEN.
   */
  async client(): Promise<AppMeshClient> {
    const forwardTo = this.args.options.get('forward-to');
    const user = this.args.options.get('user');
    if (user) {
      const client = new AppMeshClient({ url: this.host, forwardTo, onExchange: this.onExchange });
      await logOn(client, user, this.args.options.get('password'), this.args.options.get('totp'));
      this.oneShot = client;
      return client;
    }
    const stored = this.store.get(this.host);
    const token = stored?.token ?? process.env.APPMESH_TOKEN;
    if (!token) throw new NotLoggedOn(`not logged on to ${this.host}: run 'appm logon' (or give -U and -X)`);
    this.debug(`${this.host}: session of ${stored?.user ?? 'APPMESH_TOKEN'}${forwardTo ? `, forwarded to ${forwardTo}` : ''}`);
    return new AppMeshClient({
      url: this.host,
      token,
      forwardTo,
      onExchange: this.onExchange,
      onToken: (answer) => {
        if (answer && stored) this.store.put(this.host, { token: answer.access_token, user: stored.user, expire_time: answer.expire_time });
      },
    });
  }

  /** Ends a session opened for this command only. */
  async close(): Promise<void> {
    await this.oneShot?.logoff().catch(() => undefined);
  }
}

/** Logs on, asking for what is missing: the password, then the TOTP code if the daemon wants one. */
export async function logOn(client: AppMeshClient, user: string, password: string | undefined, totp: string | undefined, expireSeconds?: number, audience?: string): Promise<TokenResponse> {
  const secret = password ?? (await askHidden(`Password for ${user}: `));
  try {
    return await client.login(user, secret, { totpCode: totp, expireSeconds, audience });
  } catch (error) {
    if (!(error instanceof AppMeshError) || error.kind !== 'totp-required' || !error.challenge || totp) throw error;
    // No one to answer (stdin ended): the daemon's own answer says what is missing.
    const code = (await askHidden('TOTP code: ').catch(() => Promise.reject(error))).trim();
    return client.answerTotp(user, error.challenge.totp_challenge, code, expireSeconds);
  }
}

export async function askUser(): Promise<string> {
  const name = (await ask('User: ')).trim();
  if (!name) throw new NotLoggedOn('no user name given');
  return name;
}
