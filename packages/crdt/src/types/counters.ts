/**
 * Counters. Each replica keeps one live dot holding its own running total(s);
 * an increment writes a new dot with the new total and covers the old one,
 * so state size is one entry per replica that ever incremented.
 */
import { Crdt } from "../crdt.js";
import { DotContext } from "../dot-context.js";
import { CrdtError } from "../errors.js";
import { ownEntry } from "../kernels/dot-fun.js";
import type { DotFun } from "../kernels/dot-fun.js";
import { gCounterKernel, pnCounterKernel, sumLatest } from "../kernels/registers.js";
import type { PN } from "../kernels/registers.js";

function checkAmount(type: string, method: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CrdtError(
      "invalid-argument",
      `${type}.${method}(${String(n)}): the amount must be a non-negative safe integer` +
        (type === "GCounter" && typeof n === "number" && n < 0
          ? "; a GCounter only grows, use a PNCounter to decrement"
          : ""),
    );
  }
}

function checkTotal(type: string, total: number): void {
  if (!Number.isSafeInteger(total)) {
    throw new CrdtError(
      "invalid-argument",
      `${type} total of this replica would reach ${total}, beyond Number.MAX_SAFE_INTEGER`,
    );
  }
}

/**
 * Grow-only counter: replicas only increment; the value is the sum of all
 * increments. Choose it for monotonic tallies (page views, events seen).
 *
 * @example
 * const views = new GCounter("node-1");
 * views.increment();
 * views.increment(4);
 * views.value; // 5
 */
export class GCounter extends Crdt<DotFun<number>, number> {
  /** Stable type name. */
  static readonly typeName = "GCounter";

  constructor(replicaId: string) {
    super(gCounterKernel, replicaId);
  }

  /** The sum of all increments seen. */
  get value(): number {
    return sumLatest(this.store, (v) => v);
  }

  /** Adds `by` (default 1, a non-negative integer). */
  increment(by = 1): void {
    checkAmount("GCounter", "increment", by);
    if (by === 0) return;
    const own = ownEntry(this.store, this.replicaId);
    const dot = this.nextDot();
    const total = (own?.value ?? 0) + by;
    checkTotal("GCounter", total);
    const ctx = DotContext.of(dot);
    if (own) ctx.add(own.dot);
    this.mutate([{ dot, value: total }], ctx);
  }
}

/**
 * Positive-negative counter: increments and decrements from any replica; the
 * value is increments minus decrements. Choose it for quantities that go both
 * ways (likes, stock, active sessions).
 *
 * @example
 * const likes = new PNCounter("node-1");
 * likes.increment(3);
 * likes.decrement();
 * likes.value; // 2
 */
export class PNCounter extends Crdt<DotFun<PN>, number> {
  /** Stable type name. */
  static readonly typeName = "PNCounter";

  constructor(replicaId: string) {
    super(pnCounterKernel, replicaId);
  }

  /** Increments minus decrements. */
  get value(): number {
    return sumLatest(this.store, (v) => v.p - v.n);
  }

  /** Adds `by` (default 1); a negative `by` decrements. */
  increment(by = 1): void {
    if (typeof by === "number" && Number.isSafeInteger(by) && by < 0) this.#change(0, -by);
    else {
      checkAmount("PNCounter", "increment", by);
      this.#change(by, 0);
    }
  }

  /** Subtracts `by` (default 1, a non-negative integer). */
  decrement(by = 1): void {
    checkAmount("PNCounter", "decrement", by);
    this.#change(0, by);
  }

  #change(p: number, n: number): void {
    if (p === 0 && n === 0) return;
    const own = ownEntry(this.store, this.replicaId);
    const value = { p: (own?.value.p ?? 0) + p, n: (own?.value.n ?? 0) + n };
    checkTotal("PNCounter", value.p + value.n);
    const dot = this.nextDot();
    const ctx = DotContext.of(dot);
    if (own) ctx.add(own.dot);
    this.mutate([{ dot, value }], ctx);
  }
}
