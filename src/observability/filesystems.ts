import { statfs } from 'node:fs/promises';
import type { MountEntry } from './mounts.js';

export interface FilesystemUsage {
  device: string;
  mount_point: string;
  size: number;
  used: number;
  available: number;
  /** Percent of the space a user can have (used / (used + available)), as `df` shows it. */
  usage: number;
}

// Disk-backed file systems; pseudo (proc, tmpfs, cgroup…) and network mounts are left out:
// the first say nothing about storage, the second may hang a statfs.
const LOCAL_TYPES = new Set([
  'ext2', 'ext3', 'ext4', 'xfs', 'btrfs', 'zfs', 'f2fs', 'jfs', 'reiserfs', 'vfat', 'exfat', 'ntfs', 'ntfs3', 'hfs', 'hfsplus', 'apfs', 'overlay', 'bcachefs',
]);

/** Usage of the local file systems, one entry per device (bind mounts repeat a device). */
export async function filesystemUsage(mounts: readonly MountEntry[]): Promise<{ entries: FilesystemUsage[]; failed: boolean }> {
  const seen = new Set<string>();
  const candidates = mounts.filter((mount) => {
    if (!LOCAL_TYPES.has(mount.fsType) || seen.has(mount.device)) return false;
    seen.add(mount.device);
    return true;
  });
  let failed = false;
  const entries = await Promise.all(
    candidates.map(async (mount): Promise<FilesystemUsage | undefined> => {
      try {
        const stats = await statfs(mount.mountPoint);
        const size = stats.blocks * stats.bsize;
        const used = (stats.blocks - stats.bfree) * stats.bsize;
        const available = stats.bavail * stats.bsize;
        const usage = used + available > 0 ? Math.round((used / (used + available)) * 10_000) / 100 : 0;
        return { device: mount.device, mount_point: mount.mountPoint, size, used, available, usage };
      } catch {
        failed = true;
        return undefined;
      }
    }),
  );
  return { entries: entries.filter((entry): entry is FilesystemUsage => entry !== undefined), failed };
}
