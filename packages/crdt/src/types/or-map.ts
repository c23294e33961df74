/**
 * Observed-remove map of CRDT values.
 */
import { Crdt, bind } from "../crdt.js";
import { DotContext } from "../dot-context.js";
import { CrdtError } from "../errors.js";
import type { DotMap, MapEntry } from "../kernels/dot-map.js";
import { kernelByName, orMapKernel } from "../kernels/maps.js";
import type { Kernel, TypeName } from "../kernel.js";
import { canonicalKey } from "../value.js";
import type { Value } from "../value.js";

/** A CRDT class usable as an ORMap value: `GCounter`, `ORSet`, `ORMap`, ... */
export interface CrdtType<T extends AnyValueCrdt> {
  new (replicaId: string): T;
  readonly typeName: TypeName;
}

/**
 * Structural stand-in for "some Crdt": `Crdt<S, V>` itself cannot be the
 * bound, because its private fields make it invariant in S.
 */
export interface AnyValueCrdt {
  readonly type: TypeName;
  readonly replicaId: string;
}

/**
 * Observed-remove map: keys (JSON-like values, usually strings) map to CRDTs
 * of any type, each key with its own type. Values are updated in place
 * through typed views; removing a key removes the value as observed here, so
 * an update made concurrently elsewhere survives (it keeps the key, holding
 * only what the remove had not seen). Choose it for a replicated record or
 * dictionary: a cart of item counters, per-user flags.
 *
 * A key exists while its value holds data: `getOrCreate` alone creates
 * nothing, the first mutation does.
 *
 * @example
 * const cart = new ORMap("node-1");
 * cart.update("apples", PNCounter, (c) => c.increment(2));
 * cart.get("apples", PNCounter)?.value; // 2
 * cart.remove("apples");
 * cart.has("apples"); // false
 */
export class ORMap<K extends Value = string> extends Crdt<DotMap, Map<K, unknown>> {
  /** Stable type name. */
  static readonly typeName = "ORMap";

  constructor(replicaId: string) {
    super(orMapKernel, replicaId);
  }

  /** Each key with its value's plain value (a counter's number, a set's array, ...). */
  get value(): Map<K, unknown> {
    return orMapKernel.valueOf(this.store) as Map<K, unknown>;
  }

  /** Number of keys. */
  get size(): number {
    return this.store.size;
  }

  /** The keys, ordered by canonical JSON. */
  keys(): K[] {
    return [...this.store.keys()].sort().map((k) => this.store.get(k)!.key as K);
  }

  /** Whether `key` is present. */
  has(key: K): boolean {
    return this.store.has(canonicalKey(key));
  }

  /** The type name of the value at `key`, if present. */
  typeOf(key: K): TypeName | undefined {
    return this.store.get(canonicalKey(key))?.kernel.typeName;
  }

  /** A live view of the value at `key` as `type`, or `undefined` if absent. Throws if the key holds another type. */
  get<T extends AnyValueCrdt>(key: K, type: CrdtType<T>): T | undefined {
    return this.has(key) ? this.getOrCreate(key, type) : undefined;
  }

  /**
   * A live view of the value at `key` as `type`; mutating it updates this map
   * (and its delta). Throws a `type-mismatch` CrdtError if the key holds
   * another type.
   */
  getOrCreate<T extends AnyValueCrdt>(key: K, type: CrdtType<T>): T {
    const k = canonicalKey(key);
    const kernel = kernelByName(type.typeName);
    const existing = this.store.get(k);
    if (existing !== undefined && existing.kernel !== kernel) {
      throw new CrdtError(
        "type-mismatch",
        `ORMap key ${k} holds a ${existing.kernel.typeName}, not a ${type.typeName}; read it as ${existing.kernel.typeName} or remove the key first`,
      );
    }
    const view = new type(this.replicaId);
    if (!(view instanceof Crdt) || view.type !== type.typeName) {
      throw new CrdtError(
        "invalid-argument",
        `ORMap values must be @cairn/crdt types; ${type.name} is not one`,
      );
    }
    // The instanceof check above makes this a Crdt; its store type matches `kernel`.
    (view as Crdt<unknown, unknown>)[bind]({
      ctx: this.ctx,
      path: k,
      read: () => {
        const entry = this.store.get(k);
        return entry !== undefined && entry.kernel === kernel ? entry.store : kernel.empty();
      },
      apply: (store, ctx) => this.#applyChild(key, k, kernel, store, ctx),
    });
    return view;
  }

  /**
   * Runs `fn` on the value at `key` (created if absent).
   *
   * @example
   * map.update("visits", GCounter, (c) => c.increment());
   */
  update<T extends AnyValueCrdt>(key: K, type: CrdtType<T>, fn: (value: T) => void): void {
    fn(this.getOrCreate(key, type));
  }

  /** Removes `key` and its value as observed here; a no-op if absent. */
  remove(key: K): void {
    const k = canonicalKey(key);
    const entry = this.store.get(k);
    if (entry === undefined) return;
    const ctx = DotContext.of(this.nextDot());
    entry.kernel.forEachDot(entry.store, (d) => ctx.add(d));
    // Empty entry: a hint so receivers visit only this key.
    this.mutate(
      new Map([[k, { key: entry.key, kernel: entry.kernel, store: entry.kernel.empty() }]]),
      ctx,
    );
  }

  #applyChild(key: K, k: string, kernel: Kernel<unknown>, store: unknown, ctx: DotContext): void {
    const entry: MapEntry = { key, kernel, store };
    this.mutate(new Map([[k, entry]]), ctx);
  }
}
