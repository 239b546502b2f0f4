/** One line of `/proc/self/mountinfo`: unlike `/proc/mounts` it says which folder of the filesystem is mounted. */
export interface MountInfo {
  /** Folder of the filesystem shown at `mountPoint` ('/' for a whole cgroup hierarchy). */
  root: string;
  mountPoint: string;
  /** Per-mount options (`ro`, `rw`, `nosuid`...). */
  mountOptions: string[];
  fsType: string;
  /** Per-filesystem options: for cgroup v1 they name the controllers (`rw,cpu,cpuacct`). */
  superOptions: string[];
}

const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** `id parent major:minor root mount-point options [optional fields...] - fstype source super-options` */
export function parseMountInfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 10 || separator < 0 || fields.length < separator + 4) continue;
    mounts.push({
      root: unescape(fields[3]),
      mountPoint: unescape(fields[4]),
      mountOptions: fields[5].split(','),
      fsType: fields[separator + 1],
      superOptions: fields[separator + 3].split(','),
    });
  }
  return mounts;
}

/** `/proc/self/cgroup`: `id:controllers:path` → path per controller ('' is the v2 hierarchy). */
export function parseCgroupMembership(text: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const path = line.slice(second + 1).trim();
    for (const controller of line.slice(first + 1, second).split(',')) result.set(controller, path);
  }
  return result;
}
