import { UsageError } from './args.js';
import type { Command } from './command.js';
import { EXIT } from './exit-codes.js';
import { bytes } from './format.js';
import { progressBar } from './progress.js';

const SPEC = { switches: ['no-attr'], options: ['remote', 'local'], short: { r: 'remote', l: 'local', a: 'no-attr' } } as const;

function paths(options: Map<string, string>, verb: string): { remote: string; local: string } {
  const remote = options.get('remote');
  const local = options.get('local');
  if (!remote || !local) throw new UsageError(`${verb} needs -r REMOTE and -l LOCAL`);
  return { remote, local };
}

/** The id of a user or group name in /etc/passwd or /etc/group (a number stays a number). */
async function localId(file: '/etc/passwd' | '/etc/group', name: string): Promise<number | undefined> {
  if (/^\d+$/.test(name)) return Number(name);
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8').catch(() => '');
  const line = text.split('\n').find((entry) => entry.split(':')[0] === name);
  const id = line?.split(':')[2];
  return id === undefined || !/^\d+$/.test(id) ? undefined : Number(id);
}

/** As the original does: a root caller's copy belongs to the remote file's owner and group, where they exist here. */
async function keepOwner(local: string, user: string | undefined, group: string | undefined): Promise<void> {
  if (process.getuid?.() !== 0 || (!user && !group)) return;
  const uid = user ? await localId('/etc/passwd', user) : undefined;
  const gid = group ? await localId('/etc/group', group) : undefined;
  if (uid === undefined && gid === undefined) return;
  const { chown } = await import('node:fs/promises');
  await chown(local, uid ?? -1, gid ?? -1);
}

const get: Command = {
  spec: SPEC,
  help: `Usage: appm get -r REMOTE -l LOCAL [-a]

Downloads a file of the host, with a progress bar (rate, ETA) on a terminal. The local copy gets
the remote file's permission bits, and (when appm runs as root) its owner and group where those
names exist here.
  -r, --remote PATH   file on the host
  -l, --local PATH    where to write it
  -a, --no-attr       do not copy the permission bits and owner`,
  async run(context) {
    const { remote, local } = paths(context.args.options, 'get');
    const client = await context.client();
    const bar = progressBar(`get ${remote}`);
    const info = await client.files.download(remote, local, { keepMode: !context.args.switches.has('no-attr'), onProgress: ({ bytes: done, total }) => bar.update(done, total) });
    bar.finish();
    if (!context.args.switches.has('no-attr')) await keepOwner(local, info.user, info.group);
    const mode = info.mode === undefined ? '' : ` mode <${info.mode.toString(8).padStart(4, '0')}>`;
    process.stdout.write(`file <${local}> size <${bytes(info.size)}>${mode}${info.user ? ` owner <${info.user}:${info.group ?? ''}>` : ''}\n`);
    return EXIT.ok;
  },
};

const put: Command = {
  spec: { ...SPEC, options: [...SPEC.options, 'owner'], short: { ...SPEC.short, o: 'owner' } },
  help: `Usage: appm put -l LOCAL -r REMOTE [-a]

Uploads a local file to the host (the remote file must not exist yet), with a progress bar on a
terminal. The remote file gets the local permission bits.
  -l, --local PATH          the file to send
  -r, --remote PATH         where to write it on the host
  -o, --owner USER[:GROUP]  owner of the remote file (applied by a daemon running as root)
  -a, --no-attr             do not send the permission bits`,
  async run(context) {
    const { remote, local } = paths(context.args.options, 'put');
    const client = await context.client();
    const bar = progressBar(`put ${local}`);
    const keep = !context.args.switches.has('no-attr');
    const [user, group] = (context.args.options.get('owner') ?? '').split(':');
    const owner = keep ? { user: user || undefined, group: group || undefined } : {};
    await client.files.uploadFile(local, remote, { keepMode: keep, ...owner, onProgress: ({ bytes: done, total }) => bar.update(done, total) });
    bar.finish();
    process.stdout.write('Success\n');
    return EXIT.ok;
  },
};

export const commands: Record<string, Command> = { get, put };
