/**
 * The process spawner's own program, run by `node -e` so it loads nothing but Node's
 * child_process and fs (no daemon modules, a small heap): forking a small process is cheap, and
 * the fork no longer stops the daemon's event loop. It is plain JavaScript kept as text so it
 * runs the same from the sources and from the build.
 *
 * Messages (JSON over the IPC channel), daemon to spawner:
 *   {t:'start', id, file, args, env, cwd, uid?, gid?, stdout, stdin, input?}
 *     stdout: a descriptor number of the daemon's (the write end of the run's output pipe),
 *       opened again through /proc/<daemon>/fd, or null for none;
 *     stdin: 'ignore' | 'pipe'; input: text written to stdin ('pipe' only).
 *   {t:'stdin', id, seq, data (base64), end}
 * spawner to daemon:
 *   {t:'ready'} {t:'started', id, pid} {t:'failed', id, message, stdio}
 *   {t:'exit', id, code, signal} {t:'stdin-done', id, seq, error?}
 */
export const SPAWNER_PROGRAM = String.raw`
'use strict';
const { spawn } = require('node:child_process');
const { openSync, closeSync, constants } = require('node:fs');
const daemon = process.ppid;
const stdins = new Map();

function send(message) {
  if (process.connected) process.send(message);
}

function start(m) {
  let stdoutFd;
  try {
    // The daemon holds the read end open, so opening the write end never blocks.
    stdoutFd = m.stdout === null ? 'ignore' : openSync('/proc/' + daemon + '/fd/' + m.stdout, constants.O_WRONLY);
  } catch (error) {
    send({ t: 'failed', id: m.id, message: String(error && error.message), stdio: true });
    return;
  }
  let child;
  try {
    child = spawn(m.file, m.args, {
      cwd: m.cwd,
      env: m.env,
      stdio: [m.stdin, stdoutFd, 'ignore'],
      detached: true,
      uid: m.uid === undefined ? undefined : m.uid,
      gid: m.gid === undefined ? undefined : m.gid,
    });
  } catch (error) {
    send({ t: 'failed', id: m.id, message: String(error && error.message), stdio: false });
    return;
  } finally {
    if (typeof stdoutFd === 'number') closeSync(stdoutFd);
  }
  child.on('error', () => undefined);
  if (child.pid === undefined) {
    send({ t: 'failed', id: m.id, message: 'spawn failed', stdio: false });
    return;
  }
  if (child.stdin) {
    // A process that never reads its stdin must not end the spawner with EPIPE.
    child.stdin.on('error', () => undefined);
    if (m.input !== undefined) child.stdin.write(m.input);
    if (m.keepStdinOpen) stdins.set(m.id, child.stdin);
    else child.stdin.end();
  }
  send({ t: 'started', id: m.id, pid: child.pid });
  child.once('exit', (code, signal) => {
    stdins.delete(m.id);
    send({ t: 'exit', id: m.id, code, signal });
  });
}

function writeStdin(m) {
  const stdin = stdins.get(m.id);
  if (!stdin || !stdin.writable) {
    send({ t: 'stdin-done', id: m.id, seq: m.seq, error: 'stdin is not open' });
    return;
  }
  stdin.write(Buffer.from(m.data, 'base64'), (error) => {
    send({ t: 'stdin-done', id: m.id, seq: m.seq, error: error ? String(error.message) : undefined });
  });
  if (m.end) {
    stdins.delete(m.id);
    stdin.end();
  }
}

process.on('message', (m) => {
  if (m.t === 'start') start(m);
  else if (m.t === 'stdin') writeStdin(m);
});
// The daemon is gone: so is the spawner (the runs it started go on, as they would have).
process.on('disconnect', () => process.exit(0));
send({ t: 'ready' });
`;
