/**
 * Debounced file watching for `cairn dev` restarts, through chokidar.
 *
 * Node 20's recursive `fs.watch` on Linux follows inodes: after an editor's
 * safe-write (write a temporary file, rename it over the original; vim,
 * JetBrains, `sed -i`) the new file goes unreported, so the second save did
 * not restart anything. chokidar watches each directory and re-arms on
 * renames, which is the maintained answer to exactly that (decision 0005).
 */
import { relative } from "node:path";
import { watch } from "chokidar";

/** Extensions whose change restarts the function. */
const WATCHED = /\.(ts|mts|cts|js|mjs|cjs|json|proto)$/;
/** Folders whose changes never matter (and would loop: the store lives in .cairn). */
const IGNORED_DIR = /(^|[/\\])(node_modules|\.git|\.cairn|dist)([/\\]|$)/;

/** Whether a changed path (relative to the watched folder) should restart the function. */
export function isRelevantChange(path: string): boolean {
  return WATCHED.test(path) && !IGNORED_DIR.test(path);
}

/** A running watcher. */
export interface TreeWatcher {
  /** Resolves once the initial scan is done: changes from then on are reported. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * Watches folders recursively; calls `onChange` with the changed paths
 * (absolute) once a burst is over, because editors write a file in several
 * steps and formatters touch several files.
 */
export function watchTree(
  dirs: readonly string[],
  debounceMs: number,
  onChange: (paths: string[]) => void,
  onError: (err: Error) => void,
): TreeWatcher {
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const fire = (): void => {
    const paths = [...pending];
    pending = new Set();
    onChange(paths);
  };
  const watcher = watch([...dirs], {
    ignoreInitial: true,
    // Never descend into node_modules and friends: watching them costs
    // thousands of handles, and their changes never matter.
    ignored: (path) => IGNORED_DIR.test(relativeTo(dirs, path)),
  });
  const onEvent = (path: string): void => {
    if (!isRelevantChange(relativeTo(dirs, path))) return;
    pending.add(path);
    clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  };
  watcher.on("add", onEvent).on("change", onEvent).on("unlink", onEvent);
  watcher.on("error", (err) => onError(err instanceof Error ? err : new Error(String(err))));
  const ready = new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
  return {
    ready,
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}

/** The path relative to the watched folder that holds it. */
function relativeTo(dirs: readonly string[], path: string): string {
  for (const dir of dirs) {
    const rel = relative(dir, path);
    if (!rel.startsWith("..")) return rel;
  }
  return path;
}
