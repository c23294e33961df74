/** Whether generated code is older than its protos, so `cairn dev` regenerates before starting. */
import { existsSync, readdirSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";

/** True when `outDir` is missing or some .proto under `protoDir` is newer than all of it. */
export function isStale(protoDir: string, outDir: string): boolean {
  if (!existsSync(outDir)) return true;
  return newest(protoDir, (name) => name.endsWith(".proto")) > newest(outDir, () => true);
}

/** The latest modification time of the matching files under a folder (0 when none). */
function newest(dir: string, match: (name: string) => boolean): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "node_modules") {
      latest = Math.max(latest, newest(path, match));
    } else if (entry.isFile() && match(entry.name)) {
      latest = Math.max(latest, statSync(path).mtimeMs);
    }
  }
  return latest;
}

/**
 * Marks generated code as current after a regeneration that changed no
 * file (a fresh checkout gives protos and generated files arbitrary
 * times), so the next start does not regenerate again for nothing.
 */
export function markFresh(outDir: string): void {
  const now = new Date();
  for (const entry of readdirSync(outDir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) utimesSync(join(entry.parentPath, entry.name), now, now);
  }
}
