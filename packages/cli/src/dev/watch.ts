/** Debounced recursive file watching for `cairn dev` restarts. */
import { watch } from "node:fs";
import type { FSWatcher } from "node:fs";

/** Extensions whose change restarts the function. */
const WATCHED = /\.(ts|mts|cts|js|mjs|cjs|json|proto)$/;
/** Folders whose changes never matter (and would loop: the store lives in .cairn). */
const IGNORED = /(^|[/\\])(node_modules|\.git|\.cairn|dist)([/\\]|$)/;

/** Whether a changed path (relative to the watched folder) should restart the function. */
export function isRelevantChange(path: string): boolean {
  return WATCHED.test(path) && !IGNORED.test(path);
}

/**
 * Watches folders recursively; calls `onChange` with the changed paths once
 * the burst is over, because editors write a file in several steps (and
 * formatters touch several files).
 */
export function watchTree(
  dirs: readonly string[],
  debounceMs: number,
  onChange: (paths: string[]) => void,
): { close(): void } {
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    const paths = [...pending];
    pending = new Set();
    onChange(paths);
  };
  const watchers: FSWatcher[] = dirs.map((dir) =>
    watch(dir, { recursive: true }, (_event, filename) => {
      if (filename === null || !isRelevantChange(filename)) return;
      pending.add(filename);
      clearTimeout(timer);
      timer = setTimeout(fire, debounceMs);
    }),
  );
  return {
    close() {
      clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
