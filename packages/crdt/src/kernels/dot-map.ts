/**
 * Dot maps: a store mapping keys (by canonical JSON) to nested stores. The
 * observed-remove set is a dot map from element to a set of dots; the
 * observed-remove map is a dot map from key to the value CRDT's store, all
 * sharing the map's one causal context. A key is present iff its nested store
 * holds a dot, so removing a key is just "put all its dots in the context".
 */
import type { DotContext } from "../dot-context.js";
import type { Dot } from "../dot.js";
import { CrdtError } from "../errors.js";
import type { Reader, ReplicaTable, Writer } from "../codec.js";
import type { JoinMode, Kernel } from "../kernel.js";
import type { Value } from "../value.js";

/** One key of a dot map: the key's value, the kernel of its nested store, and the store. */
export interface MapEntry {
  readonly key: Value;
  readonly kernel: Kernel<unknown>;
  store: unknown;
}

/** canonical key -> entry. */
export type DotMap = Map<string, MapEntry>;

const FULL_KEEP: JoinMode = { narrow: false, keepEmpty: true };
const FULL_DROP: JoinMode = { narrow: false, keepEmpty: false };

/**
 * Joins `b` into `a` key by key (see {@link JoinMode} for `narrow`).
 *
 * Narrowness holds for the top-level keys only: a key's nested store is
 * always joined in full. A delta that removes a key and then re-creates it
 * carries only the new nested entries, so visiting just those would miss the
 * removal of the old ones.
 */
export function joinDotMap(
  a: DotMap,
  actx: DotContext,
  b: DotMap,
  bctx: DotContext,
  outer: JoinMode,
): DotMap {
  const mode = outer.narrow ? (outer.keepEmpty ? FULL_KEEP : FULL_DROP) : outer;
  for (const [k, be] of b) {
    const ae = a.get(k);
    let kernel = be.kernel;
    let store: unknown;
    if (ae === undefined) {
      store = kernel.join(kernel.empty(), actx, be.store, bctx, mode);
    } else if (ae.kernel === be.kernel) {
      kernel = ae.kernel;
      store = kernel.join(ae.store, actx, be.store, bctx, mode);
    } else {
      // Different value types under one key: legal only when one side does
      // not survive the other's context (check() has ruled out the rest).
      const left = ae.kernel.join(ae.store, actx, ae.kernel.empty(), bctx, mode);
      const right = be.kernel.join(be.kernel.empty(), actx, be.store, bctx, mode);
      if (ae.kernel.isEmpty(left)) store = right;
      else {
        kernel = ae.kernel;
        store = left;
      }
    }
    if (kernel.isEmpty(store) && !mode.keepEmpty) a.delete(k);
    else if (ae !== undefined && ae.kernel === kernel)
      ae.store = store; // entries of `a` are its own
    else a.set(k, { key: be.key, kernel, store });
  }
  if (!outer.narrow) {
    for (const [k, ae] of a) {
      if (b.has(k)) continue;
      const store = ae.kernel.join(ae.store, actx, ae.kernel.empty(), bctx, mode);
      if (ae.kernel.isEmpty(store) && !mode.keepEmpty) a.delete(k);
      else ae.store = store;
    }
  }
  return a;
}

/** Rejects a join that would put two live value types under one key. */
export function checkDotMap(
  a: DotMap,
  actx: DotContext,
  b: DotMap,
  bctx: DotContext,
  mode: JoinMode,
  path: string,
): void {
  for (const [k, be] of b) {
    const ae = a.get(k);
    if (ae === undefined) continue;
    if (ae.kernel === be.kernel) {
      ae.kernel.check(ae.store, actx, be.store, bctx, mode, `${path}[${k}]`);
      continue;
    }
    const leftLives = someDot(ae.kernel, ae.store, (d) => !bctx.has(d));
    const rightLives = someDot(be.kernel, be.store, (d) => !actx.has(d));
    if (leftLives && rightLives) {
      throw new CrdtError(
        "type-mismatch",
        `ORMap key ${path}[${k}] holds a ${ae.kernel.typeName} here but a ${be.kernel.typeName} in the merged state; ` +
          `two replicas created the key concurrently with different value types, which cannot be merged. Use one value type per key (for example prefix keys with the type)`,
      );
    }
  }
}

function someDot(kernel: Kernel<unknown>, store: unknown, f: (d: Dot) => boolean): boolean {
  let found = false;
  kernel.forEachDot(store, (d) => {
    if (!found && f(d)) found = true;
  });
  return found;
}

export function forEachDotMap(s: DotMap, f: (d: Dot) => void): void {
  for (const e of s.values()) e.kernel.forEachDot(e.store, f);
}

export function restrictDotMap(s: DotMap, remote: DotContext): DotMap {
  const out: DotMap = new Map();
  for (const [k, e] of s) {
    const store = e.kernel.restrict(e.store, remote);
    if (!e.kernel.isEmpty(store)) out.set(k, { key: e.key, kernel: e.kernel, store });
  }
  return out;
}

/** Writes entries sorted by canonical key; `withType` adds each entry's type code (ORMap). */
export function writeDotMap(w: Writer, s: DotMap, table: ReplicaTable, withType: boolean): void {
  const keys = [...s.keys()].sort();
  w.uint(keys.length);
  for (const k of keys) {
    const e = s.get(k)!;
    w.string(k);
    if (withType) w.byte(e.kernel.code);
    e.kernel.write(w, e.store, table);
  }
}

/** Reads entries written by {@link writeDotMap}; `kernelOf` resolves each entry's kernel. */
export function readDotMap(
  r: Reader,
  kernelOf: (r: Reader) => Kernel<unknown>,
  parse: (json: string) => Value,
): DotMap {
  const n = r.uint();
  const out: DotMap = new Map();
  for (let i = 0; i < n; i++) {
    const k = r.string();
    const kernel = kernelOf(r);
    out.set(k, { key: parse(k), kernel, store: kernel.read(r) });
  }
  return out;
}
