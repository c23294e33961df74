/**
 * Sets: GSet (grow-only) and ORSet (observed-remove, add wins). Both store,
 * per element, the dots of the adds that are still live.
 */
import { Crdt } from "../crdt.js";
import { DotContext } from "../dot-context.js";
import type { Entry } from "../kernels/dot-fun.js";
import type { DotMap } from "../kernels/dot-map.js";
import { gSetKernel, orSetKernel, sortedValues } from "../kernels/maps.js";
import { flagKernel } from "../kernels/registers.js";
import type { Kernel } from "../kernel.js";
import { canonicalKey } from "../value.js";
import type { Value } from "../value.js";

const elementKernel = flagKernel as Kernel<unknown>;

/** Shared read side of the two set types. */
abstract class SetBase<T extends Value> extends Crdt<DotMap, T[]> {
  /** The elements, ordered by canonical JSON (the same order on every replica). */
  get value(): T[] {
    return sortedValues(this.store) as T[];
  }

  /** Number of elements. */
  get size(): number {
    return this.store.size;
  }

  /** Whether `element` (compared by canonical JSON) is in the set. */
  has(element: T): boolean {
    return this.store.has(canonicalKey(element));
  }

  /** Adds with a fresh dot that covers the element's live dots (one live dot per concurrent add). */
  protected addDot(element: T, key: string): void {
    const dot = this.nextDot();
    const ctx = DotContext.of(dot);
    const live = this.store.get(key)?.store as Entry<null>[] | undefined;
    if (live) for (const e of live) ctx.add(e.dot);
    const delta: DotMap = new Map([
      [key, { key: element, kernel: elementKernel, store: [{ dot, value: null }] }],
    ]);
    this.mutate(delta, ctx);
  }
}

/**
 * Grow-only set: elements are added, never removed. Choose it for
 * membership that only grows (tags seen, users who accepted the terms).
 * Elements are JSON-like values identified by canonical JSON.
 *
 * @example
 * const tags = new GSet<string>("node-1");
 * tags.add("crdt");
 * tags.has("crdt"); // true
 */
export class GSet<T extends Value = Value> extends SetBase<T> {
  /** Stable type name. */
  static readonly typeName = "GSet";

  constructor(replicaId: string) {
    super(gSetKernel, replicaId);
  }

  /** Adds `element`; a no-op (no delta) if it is already present. */
  add(element: T): void {
    const key = canonicalKey(element);
    if (this.store.has(key)) return;
    this.addDot(element, key);
  }
}

/**
 * Observed-remove set: add and remove from any replica; a remove removes only
 * the adds its replica had seen, so an add concurrent with a remove wins.
 * Choose it for membership that changes both ways (a shopping cart's items,
 * online users). Removed elements leave no tombstone behind.
 *
 * @example
 * const cart = new ORSet<string>("node-1");
 * cart.add("apple");
 * cart.add("pear");
 * cart.remove("apple");
 * cart.value; // ["pear"]
 */
export class ORSet<T extends Value = Value> extends SetBase<T> {
  /** Stable type name. */
  static readonly typeName = "ORSet";

  constructor(replicaId: string) {
    super(orSetKernel, replicaId);
  }

  /** Adds `element`. Re-adding a present element makes a new add that wins over concurrent removes. */
  add(element: T): void {
    this.addDot(element, canonicalKey(element));
  }

  /** Removes `element` as observed here; a no-op (no delta) if it is absent. */
  remove(element: T): void {
    const key = canonicalKey(element);
    const entry = this.store.get(key);
    if (entry === undefined) return;
    const ctx = DotContext.of(this.nextDot());
    for (const e of entry.store as Entry<null>[]) ctx.add(e.dot);
    // Empty entry: a hint that lets receivers find the removed key without scanning.
    this.mutate(new Map([[key, { key: entry.key, kernel: elementKernel, store: [] }]]), ctx);
  }

  /** Removes every element as observed here. */
  clear(): void {
    const ctx = DotContext.of(this.nextDot());
    const delta: DotMap = new Map();
    for (const [key, entry] of this.store) {
      for (const e of entry.store as Entry<null>[]) ctx.add(e.dot);
      delta.set(key, { key: entry.key, kernel: elementKernel, store: [] });
    }
    if (delta.size > 0) this.mutate(delta, ctx);
  }
}
