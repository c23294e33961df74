/**
 * The causal context: the set of every dot a replica has seen, stored per
 * replica as sorted, disjoint, non-adjacent inclusive ranges of counters.
 *
 * This one representation is both the version vector and the "dot cloud" of
 * the delta-CRDT literature: a replica that has seen writes 1..n of replica R
 * stores the single range [1, n] (a version vector entry); deltas that arrive
 * out of order leave holes, which are extra ranges until the missing writes
 * arrive and the ranges fuse again. Compaction is therefore automatic and
 * always safe: fusing ranges loses no information.
 */
import type { Dot } from "./dot.js";

/** Set of seen dots, compacted into ranges. */
export class DotContext {
  // replica -> [lo0, hi0, lo1, hi1, ...], sorted, disjoint, never adjacent
  // (adjacent ranges are fused on insert, so a contiguous history is one pair).
  readonly #ranges = new Map<string, number[]>();

  /** True if the context holds no dot. */
  get isEmpty(): boolean {
    return this.#ranges.size === 0;
  }

  /** Whether `dot` has been seen. */
  has(dot: Dot): boolean {
    const list = this.#ranges.get(dot.replica);
    if (list === undefined) return false;
    const i = findRange(list, dot.counter);
    return i >= 0 && dot.counter <= list[i * 2 + 1]!;
  }

  /** Highest counter seen from `replica` (0 if none). */
  max(replica: string): number {
    const list = this.#ranges.get(replica);
    return list === undefined ? 0 : list[list.length - 1]!;
  }

  /** The next fresh dot for `replica`: one past the highest it has used. */
  next(replica: string): Dot {
    return { replica, counter: this.max(replica) + 1 };
  }

  /** Adds one dot. */
  add(dot: Dot): void {
    this.addRange(dot.replica, dot.counter, dot.counter);
  }

  /** Adds every counter in [lo, hi] of `replica`. */
  addRange(replica: string, lo: number, hi: number): void {
    const list = this.#ranges.get(replica);
    if (list === undefined) {
      this.#ranges.set(replica, [lo, hi]);
      return;
    }
    // Fast path: the common case is extending the last range by one.
    const lastHi = list[list.length - 1]!;
    if (lo >= list[list.length - 2]! && lo <= lastHi + 1) {
      if (hi > lastHi) list[list.length - 1] = hi;
      return;
    }
    // First range that ends at or after lo-1 may touch [lo, hi].
    let first = 0;
    let end = list.length / 2;
    while (first < end) {
      const mid = (first + end) >> 1;
      if (list[mid * 2 + 1]! < lo - 1) first = mid + 1;
      else end = mid;
    }
    let last = first;
    let newLo = lo;
    let newHi = hi;
    while (last < list.length / 2 && list[last * 2]! <= hi + 1) {
      newLo = Math.min(newLo, list[last * 2]!);
      newHi = Math.max(newHi, list[last * 2 + 1]!);
      last++;
    }
    list.splice(first * 2, (last - first) * 2, newLo, newHi);
  }

  /** Removes one dot (splitting a range). Used only to build anti-entropy deltas. */
  remove(dot: Dot): void {
    const list = this.#ranges.get(dot.replica);
    if (list === undefined) return;
    const i = findRange(list, dot.counter);
    if (i < 0) return;
    const lo = list[i * 2]!;
    const hi = list[i * 2 + 1]!;
    if (dot.counter > hi) return;
    const parts: number[] = [];
    if (lo <= dot.counter - 1) parts.push(lo, dot.counter - 1);
    if (dot.counter + 1 <= hi) parts.push(dot.counter + 1, hi);
    list.splice(i * 2, 2, ...parts);
    if (list.length === 0) this.#ranges.delete(dot.replica);
  }

  /** Adds every dot of `other` to this context. */
  union(other: DotContext): void {
    for (const [replica, list] of other.#ranges) {
      for (let i = 0; i < list.length; i += 2) this.addRange(replica, list[i]!, list[i + 1]!);
    }
  }

  /** True if every dot of `other` is in this context. */
  covers(other: DotContext): boolean {
    for (const [replica, list] of other.#ranges) {
      const mine = this.#ranges.get(replica);
      if (mine === undefined) return false;
      for (let i = 0; i < list.length; i += 2) {
        const j = findRange(mine, list[i]!);
        if (j < 0 || mine[j * 2 + 1]! < list[i + 1]!) return false;
      }
    }
    return true;
  }

  /** An independent copy. */
  clone(): DotContext {
    const copy = new DotContext();
    for (const [replica, list] of this.#ranges) copy.#ranges.set(replica, list.slice());
    return copy;
  }

  /** Replica ids present, in any order. */
  replicas(): IterableIterator<string> {
    return this.#ranges.keys();
  }

  /** The ranges of `replica` as a flat [lo, hi, ...] list (do not mutate). */
  rangesOf(replica: string): readonly number[] {
    return this.#ranges.get(replica) ?? [];
  }

  /** Number of stored ranges over all replicas: the context's memory cost. */
  get rangeCount(): number {
    let n = 0;
    for (const list of this.#ranges.values()) n += list.length / 2;
    return n;
  }

  /** Builds a context from one dot or several (convenience for mutators). */
  static of(...dots: Dot[]): DotContext {
    const ctx = new DotContext();
    for (const d of dots) ctx.add(d);
    return ctx;
  }
}

/** Index of the last range whose lo <= counter, or -1. */
function findRange(list: readonly number[], counter: number): number {
  let lo = 0;
  let hi = list.length / 2 - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid * 2]! <= counter) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
