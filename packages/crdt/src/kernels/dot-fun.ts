/**
 * Dot functions: a store mapping dots to immutable values. Counters, votes,
 * flags (value `null`) and registers are dot functions; each replica keeps
 * at most one live dot of its own, because every new write covers (puts in
 * its delta's context) the replica's previous dot.
 */
import type { DotContext } from "../dot-context.js";
import { compareDots, sameDot } from "../dot.js";
import type { Dot } from "../dot.js";
import type { Reader, Writer } from "../codec.js";
import type { JoinMode, Kernel, TypeName } from "../kernel.js";

/** One write: its dot and the value it wrote. */
export interface Entry<V> {
  readonly dot: Dot;
  readonly value: V;
}

/** A dot function store; arrays are small (about one entry per replica). */
export type DotFun<V> = readonly Entry<V>[];

/** Joins two dot functions under their contexts; returns a fresh array. */
export function joinDotFun<V>(
  a: DotFun<V>,
  actx: DotContext,
  b: DotFun<V>,
  bctx: DotContext,
): DotFun<V> {
  // Fast path for the commonest case in merges of similar states: one shared entry.
  if (a.length === 1 && b.length === 1 && sameDot(a[0]!.dot, b[0]!.dot)) return a;
  const out: Entry<V>[] = [];
  for (const e of a) {
    if (!bctx.has(e.dot) || b.some((x) => sameDot(x.dot, e.dot))) out.push(e);
  }
  // Store dots are always in their own context, so "not in actx" also means "not in a".
  for (const e of b) if (!actx.has(e.dot)) out.push(e);
  return out;
}

/** The entry with the highest counter written by `replica`, if any. */
export function ownEntry<V>(s: DotFun<V>, replica: string): Entry<V> | undefined {
  let best: Entry<V> | undefined;
  for (const e of s)
    if (e.dot.replica === replica && (best === undefined || e.dot.counter > best.dot.counter))
      best = e;
  return best;
}

/** What distinguishes one dot-function type from another. */
export interface DotFunSpec<V> {
  readonly typeName: TypeName;
  readonly code: number;
  writeValue(w: Writer, v: V): void;
  readValue(r: Reader): V;
  valueOf(s: DotFun<V>): unknown;
}

/** Builds the kernel of a dot-function type. */
export function dotFunKernel<V>(spec: DotFunSpec<V>): Kernel<DotFun<V>> {
  return {
    typeName: spec.typeName,
    code: spec.code,
    empty: () => [],
    isEmpty: (s) => s.length === 0,
    join: (a, actx, b, bctx, _mode: JoinMode) => joinDotFun(a, actx, b, bctx),
    check: () => undefined,
    forEachDot(s, f) {
      for (const e of s) f(e.dot);
    },
    restrict: (s, remote) => s.filter((e) => !remote.has(e.dot)),
    write(w, s, table) {
      const sorted = [...s].sort((x, y) => compareDots(x.dot, y.dot));
      w.uint(sorted.length);
      for (const e of sorted) {
        table.dot(w, e.dot);
        spec.writeValue(w, e.value);
      }
    },
    read(r) {
      const n = r.uint();
      const out: Entry<V>[] = [];
      for (let i = 0; i < n; i++) out.push({ dot: r.dot(), value: spec.readValue(r) });
      return out;
    },
    valueOf: (s) => spec.valueOf(s),
  };
}
