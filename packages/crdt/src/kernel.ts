/**
 * The algebra every CRDT type implements: a *dot store* joined under causal
 * contexts (Almeida, Shoker, Baquero: "Delta state replicated data types",
 * 2018). A state is (store, context); the join of two states keeps a dot iff
 * both stores hold it, or one store holds it and the other context has not
 * seen it. Stores never alias each other's mutable parts after a join.
 *
 * Every mutation, removals included, takes a fresh dot of its replica into
 * the context, so a peer that missed any of our deltas has a context that
 * lacks a dot of ours: anti-entropy notices the gap from contexts alone.
 */
import type { DotContext } from "./dot-context.js";
import type { Dot } from "./dot.js";
import type { Reader, ReplicaTable, Writer } from "./codec.js";

/** The stable type names, used in `ReplicatedDelta.type` and in errors. */
export type TypeName =
  "GCounter" | "PNCounter" | "GSet" | "ORSet" | "LWWRegister" | "Flag" | "ORMap" | "Vote";

/**
 * How a join runs.
 * - `narrow`: `b` is a delta made by mutations, whose context only names dots
 *   of keys present in its store (removals leave an empty "hint" entry), so
 *   only b's keys need visiting: O(delta) instead of O(state).
 * - `keepEmpty`: keep empty entries (true when accumulating a delta, so the
 *   hints survive; false for states, which never hold empty entries).
 */
export interface JoinMode {
  readonly narrow: boolean;
  readonly keepEmpty: boolean;
}

/** Applying a delta to a state. */
export const APPLY_DELTA: JoinMode = { narrow: true, keepEmpty: false };
/** Merging a full state (or an anti-entropy delta) into a state. */
export const MERGE_STATE: JoinMode = { narrow: false, keepEmpty: false };
/** Accumulating a mutation's delta into the pending delta. */
export const ACCUMULATE: JoinMode = { narrow: true, keepEmpty: true };

/** One type's store operations. @internal */
export interface Kernel<S> {
  readonly typeName: TypeName;
  /** Stable one-byte type code in encodings. */
  readonly code: number;
  empty(): S;
  isEmpty(s: S): boolean;
  /** Joins b into a; may mutate and return `a`, never mutates or aliases `b`. */
  join(a: S, actx: DotContext, b: S, bctx: DotContext, mode: JoinMode): S;
  /** Throws before any mutation if joining `b` into `a` would be a type conflict. */
  check(a: S, actx: DotContext, b: S, bctx: DotContext, mode: JoinMode, path: string): void;
  forEachDot(s: S, f: (dot: Dot) => void): void;
  /** The part of `s` made of dots that `remote` has not seen (for anti-entropy). */
  restrict(s: S, remote: DotContext): S;
  write(w: Writer, s: S, table: ReplicaTable): void;
  read(r: Reader): S;
  /** The plain, human-readable value. */
  valueOf(s: S): unknown;
}
