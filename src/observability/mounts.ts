import { readFile } from 'node:fs/promises';

export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
  options: string[];
}

/** `/proc/mounts` lines: fields separated by spaces, spaces inside fields written as octal escapes. */
export function parseMounts(text: string): MountEntry[] {
  const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  const mounts: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    mounts.push({ device: unescape(fields[0]), mountPoint: unescape(fields[1]), fsType: fields[2], options: fields[3].split(',') });
  }
  return mounts;
}

export async function readMounts(file = '/proc/mounts'): Promise<MountEntry[]> {
  return parseMounts(await readFile(file, 'utf8'));
}
