/**
 * Moves freshly generated files into the project's gen folder, writing only
 * what changed: `cairn dev` watches that folder, and an untouched file must
 * not restart the function. Generated files whose proto is gone are removed;
 * nothing else in the folder is touched.
 */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";

/** What a sync changed, as paths relative to the gen folder. */
export interface SyncResult {
  readonly written: readonly string[];
  readonly removed: readonly string[];
  /** Generated files in all, changed or not. */
  readonly total: number;
}

/** protoc-gen-es's output names; only these are ever removed. */
const GENERATED = /_pb\.(ts|js|d\.ts)$/;

/** Makes `to` hold exactly the generated files of `from`, touching only what differs. */
export function syncGenerated(from: string, to: string): SyncResult {
  const fresh = existsSync(from) ? files(from) : [];
  const written: string[] = [];
  for (const rel of fresh) {
    const content = readFileSync(join(from, rel));
    const target = join(to, rel);
    if (existsSync(target) && readFileSync(target).equals(content)) continue;
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
    written.push(rel);
  }
  const keep = new Set(fresh);
  const removed = (existsSync(to) ? files(to) : []).filter(
    (rel) => GENERATED.test(rel) && !keep.has(rel),
  );
  for (const rel of removed) {
    unlinkSync(join(to, rel));
    removeEmptyParents(dirname(join(to, rel)), to);
  }
  return { written, removed, total: fresh.length };
}

/** Every file under a folder, relative to it, in a stable order. */
function files(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...files(root, path));
    else if (entry.isFile()) out.push(relative(root, path));
  }
  return out.sort();
}

function removeEmptyParents(dir: string, stop: string): void {
  for (let d = dir; d !== stop && relative(stop, d) !== "" && !relative(stop, d).startsWith(".."); d = dirname(d)) {
    if (readdirSync(d).length > 0) return;
    rmdirSync(d);
  }
}
