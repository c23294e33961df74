/**
 * Preloaded into a process the bench measures (`node --expose-gc --import
 * mem-probe.js ...`): on SIGUSR2 it collects garbage and prints one JSON line
 * of `process.memoryUsage()` on stderr, so the bench reads a process's live
 * heap, not whatever garbage the last collection left. Bench-only: the
 * runtime and the function know nothing of it.
 */
const gc = (globalThis as { gc?: () => void }).gc;

process.on("SIGUSR2", () => {
  // Twice: the first pass may only queue finalisers whose memory the second frees.
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.stderr.write(
    `${JSON.stringify({ msg: "bench memory", gc: gc !== undefined, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers })}\n`,
  );
});
