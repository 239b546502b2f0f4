import { bytes, duration } from './format.js';

/**
 * A progress bar with rate and ETA on stderr, only when stderr is a terminal (none when piped or
 * redirected). Redrawn at most ten times a second.
 */
export function progressBar(label: string): { update: (done: number, total?: number) => void; finish: () => void } {
  if (!process.stderr.isTTY) return { update: () => undefined, finish: () => undefined };
  const started = Date.now();
  let lastDraw = 0;
  let drawn = false;
  let last = { done: 0, total: undefined as number | undefined };
  const draw = () => {
    const { done, total } = last;
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = done / seconds;
    const width = 24;
    const share = total ? Math.min(done / total, 1) : 0;
    const bar = total ? `[${'#'.repeat(Math.round(share * width)).padEnd(width, '.')}] ${(share * 100).toFixed(0).padStart(3)}%` : '';
    const eta = total && rate > 0 ? ` ETA ${duration((total - done) / rate)}` : '';
    process.stderr.write(`\r${label} ${bar} ${bytes(done)}${total ? ` / ${bytes(total)}` : ''} ${bytes(rate)}/s${eta}\x1b[K`);
    drawn = true;
  };
  return {
    update(done, total) {
      last = { done, total };
      const now = Date.now();
      if (now - lastDraw < 100) return;
      lastDraw = now;
      draw();
    },
    finish() {
      draw();
      if (drawn) process.stderr.write('\n');
    },
  };
}
