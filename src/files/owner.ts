import { readFile } from 'node:fs/promises';

interface Entry {
  name: string;
  id: number;
}

// Read on every call: the databases are small and may change while the daemon runs.
async function entries(file: string): Promise<Entry[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields.length >= 3 && fields[0] && /^\d+$/.test(fields[2])) out.push({ name: fields[0], id: Number(fields[2]) });
  }
  return out;
}

const NUMERIC_ID = /^\d{1,10}$/;
// (uid_t)-1 means "unchanged" to chown, so the largest usable id is one below it.
const MAX_ID = 0xfffffffe;

/** Owner and group names of a file; the numeric id where the name is unknown. */
export async function ownerNames(uid: number, gid: number): Promise<{ user: string; group: string }> {
  const [users, groups] = await Promise.all([entries('/etc/passwd'), entries('/etc/group')]);
  return {
    user: users.find((entry) => entry.id === uid)?.name ?? String(uid),
    group: groups.find((entry) => entry.id === gid)?.name ?? String(gid),
  };
}

/** A user given by name or numeric id; undefined when the name is unknown. */
export async function resolveUserId(text: string): Promise<number | undefined> {
  if (NUMERIC_ID.test(text)) return Number(text) <= MAX_ID ? Number(text) : undefined;
  return (await entries('/etc/passwd')).find((entry) => entry.name === text)?.id;
}

/** A group given by name or numeric id; undefined when the name is unknown. */
export async function resolveGroupId(text: string): Promise<number | undefined> {
  if (NUMERIC_ID.test(text)) return Number(text) <= MAX_ID ? Number(text) : undefined;
  return (await entries('/etc/group')).find((entry) => entry.name === text)?.id;
}
