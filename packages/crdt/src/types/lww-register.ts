/**
 * Last-writer-wins register.
 */
import { Crdt } from "../crdt.js";
import { DotContext } from "../dot-context.js";
import { CrdtError } from "../errors.js";
import type { DotFun } from "../kernels/dot-fun.js";
import { compareStamped, lwwKernel, lwwWinner } from "../kernels/registers.js";
import type { Stamped } from "../kernels/registers.js";
import { canonicalKey } from "../value.js";
import type { Value } from "../value.js";

/**
 * Picks the timestamp of a new write from the current one (`undefined` when
 * the register is empty). The greatest timestamp wins; ties go to the greater
 * replica id.
 */
export type Clock = (current: number | undefined) => number;

/**
 * Wall-clock milliseconds, but always past the current timestamp so a
 * replica's own successive writes win even if its clock steps back.
 */
export const defaultClock: Clock = (current) =>
  Math.max(Date.now(), current === undefined ? -Infinity : current + 1);

/**
 * The earliest write wins: negated wall-clock milliseconds. Once a replica
 * has seen a value, its own later writes lose to it (`set` returns false);
 * of concurrent first writes, the one made earliest wins.
 */
export const reverseClock: Clock = () => -Date.now();

/** Options of {@link LWWRegister}. */
export interface LWWRegisterOptions {
  /** How write timestamps are chosen; {@link defaultClock} unless given. */
  readonly clock?: Clock;
}

/**
 * Last-writer-wins register: holds one value; of concurrent writes, the one
 * with the greatest timestamp wins, ties broken by the greater replica id.
 * Choose it for a value replaced as a whole where losing a concurrent write
 * is acceptable (a display name, a configuration blob). With a caller-supplied
 * clock (`set(v, { timestamp })` or the `clock` option) a write whose
 * timestamp does not beat the current one is ignored, so the value is always
 * the write with the greatest timestamp.
 *
 * @example
 * const name = new LWWRegister<string>("node-1");
 * name.set("Ada");
 * name.value; // "Ada"
 * const first = new LWWRegister<string>("node-1", { clock: reverseClock }); // earliest write wins
 */
export class LWWRegister<T extends Value = Value> extends Crdt<DotFun<Stamped>, T | undefined> {
  /** Stable type name. */
  static readonly typeName = "LWWRegister";
  readonly #clock: Clock;

  constructor(replicaId: string, options: LWWRegisterOptions = {}) {
    super(lwwKernel, replicaId);
    this.#clock = options.clock ?? defaultClock;
  }

  /** The winning value, or `undefined` before the first write. */
  get value(): T | undefined {
    return lwwWinner(this.store)?.value.value as T | undefined;
  }

  /** Timestamp of the winning write, or `undefined` before the first write. */
  get timestamp(): number | undefined {
    return lwwWinner(this.store)?.value.timestamp;
  }

  /**
   * Writes `value` with a timestamp from the clock (or `options.timestamp`).
   * Returns false, and changes nothing, if the current write beats it.
   */
  set(value: T, options: { readonly timestamp?: number } = {}): boolean {
    const current = lwwWinner(this.store);
    const timestamp = options.timestamp ?? this.#clock(current?.value.timestamp);
    if (typeof timestamp !== "number" || Number.isNaN(timestamp)) {
      throw new CrdtError(
        "invalid-argument",
        `LWWRegister.set: timestamp ${String(timestamp)} is not a number; the clock must return a number`,
      );
    }
    const dot = this.nextDot();
    const entry = { dot, value: { timestamp, value, json: canonicalKey(value) } };
    if (current !== undefined && compareStamped(entry, current) < 0) return false;
    const ctx = DotContext.of(dot);
    for (const e of this.store) ctx.add(e.dot);
    this.mutate([entry], ctx);
    return true;
  }
}
