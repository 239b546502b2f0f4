// The one-daemon-per-home lock, taken before the daemon starts (as its command does while the
// daemon's modules load): the daemon uses it, and nobody else gets the home meanwhile.
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { startDaemon } from '../src/daemon.js';
import { lockHome } from '../src/store/home.js';
import { HomeInUseError } from '../src/store/instance-lock.js';
import { newHome } from './helpers/test-daemon.js';

describe('a home locked ahead of the daemon', () => {
  test('the daemon given the lock starts on it; another start on the home is refused until it closes', async () => {
    const home = await newHome();
    const warnings: string[] = [];
    try {
      const lock = await lockHome(home, (message) => warnings.push(message));
      expect(readFileSync(join(home, 'appmesh.pid'), 'utf8').trim()).toBe(String(process.pid));
      // Taken already: a second lock on the same home is refused, naming the holder.
      await expect(lockHome(home, (message) => warnings.push(message))).rejects.toBeInstanceOf(HomeInUseError);

      const daemon = await startDaemon({ home, lock, port: 0, env: { APPMESH_ADMIN_PASSWORD: 'Home-Lock-Password-1', APPMESH_MQTT_EmbeddedBrokerPort: '0' } });
      try {
        expect((await fetch(`${daemon.url}/appmesh/readyz`)).status).toBe(200);
        await expect(startDaemon({ home, port: 0 })).rejects.toThrow(HomeInUseError);
      } finally {
        await daemon.close();
      }
      // Closing the daemon let the lock go, with its pid file.
      expect(existsSync(join(home, 'appmesh.pid'))).toBe(false);
      const again = await lockHome(home, (message) => warnings.push(message));
      again.release();
      expect(warnings).toEqual([]);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  test('a home other accounts can write to is refused before any lock is taken', async () => {
    await expect(lockHome('/tmp', () => undefined)).rejects.toThrow(/writable by other accounts/);
  });
});
