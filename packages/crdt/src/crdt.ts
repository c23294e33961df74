/**
 * The base of every CRDT type: holds (store, causal context), turns each
 * local mutation into a delta that is both applied and accumulated, and
 * implements merge, delta application, encoding and anti-entropy once for all
 * types on top of their {@link Kernel}.
 */
import { DotContext } from "./dot-context.js";
import type { Dot } from "./dot.js";
import { decodeEnvelope, encodeEnvelope, liveDigest } from "./envelope.js";
import { CrdtError } from "./errors.js";
import { ACCUMULATE, APPLY_DELTA, MERGE_STATE } from "./kernel.js";
import type { JoinMode, Kernel, TypeName } from "./kernel.js";

/**
 * How a value CRDT lives inside an {@link ORMap}: it reads its store from the
 * map and hands its deltas to the map, and shares the map's context.
 * @internal
 */
export interface Binding<S> {
  readonly ctx: DotContext;
  readonly path: string;
  read(): S;
  apply(store: S, ctx: DotContext): void;
}

/** @internal Key of the method that binds a value CRDT to its map. */
export const bind: unique symbol = Symbol("cairn.crdt.bind");

/**
 * Operations common to every CRDT type.
 *
 * @example
 * const a = new GCounter("a");
 * const b = new GCounter("b");
 * a.increment(2);
 * b.applyDelta(a.takeDelta()!); // ship deltas...
 * b.merge(a.encodeState());      // ...or whole states; both are idempotent
 * b.value; // 2
 */
export abstract class Crdt<S, V> {
  /** This replica's id; it names the dots of this replica's writes. */
  readonly replicaId: string;
  readonly #kernel: Kernel<S>;
  #store: S;
  #ctx = new DotContext();
  #delta: { store: S; ctx: DotContext } | undefined;
  #binding: Binding<S> | undefined;

  protected constructor(kernel: Kernel<S>, replicaId: string) {
    if (typeof replicaId !== "string" || replicaId.length === 0) {
      throw new CrdtError(
        "invalid-argument",
        `${kernel.typeName} replica id is ${JSON.stringify(replicaId)}; pass a non-empty string unique to this replica (for example the node id)`,
      );
    }
    this.#kernel = kernel;
    this.replicaId = replicaId;
    this.#store = kernel.empty();
  }

  /** The stable type name ("GCounter", "ORSet", ...), as used in `ReplicatedDelta.type`. */
  get type(): TypeName {
    return this.#kernel.typeName;
  }

  /** The current value, in plain JavaScript terms. */
  abstract get value(): V;

  /** The store (read through the map when this CRDT is an ORMap value). */
  protected get store(): S {
    return this.#binding === undefined ? this.#store : this.#binding.read();
  }

  /** The causal context (the map's, when this CRDT is an ORMap value). */
  protected get ctx(): DotContext {
    return this.#binding === undefined ? this.#ctx : this.#binding.ctx;
  }

  /** A fresh dot for a write by this replica. */
  protected nextDot(): Dot {
    return this.ctx.next(this.replicaId);
  }

  /** Applies a mutation's delta locally and adds it to the pending delta. */
  protected mutate(store: S, ctx: DotContext): void {
    if (this.#binding !== undefined) {
      this.#binding.apply(store, ctx);
      return;
    }
    // Join before growing the context: the join must see the old context.
    this.#store = this.#kernel.join(this.#store, this.#ctx, store, ctx, APPLY_DELTA);
    this.#ctx.union(ctx);
    this.#delta ??= { store: this.#kernel.empty(), ctx: new DotContext() };
    this.#delta.store = this.#kernel.join(
      this.#delta.store,
      this.#delta.ctx,
      store,
      ctx,
      ACCUMULATE,
    );
    this.#delta.ctx.union(ctx);
  }

  /** True if local mutations have happened since the last {@link takeDelta}. */
  get hasDelta(): boolean {
    return this.#delta !== undefined;
  }

  /**
   * The encoded delta of all local mutations since the last call (or
   * `undefined` if none), and resets it. Ship it to other replicas and apply it
   * there with {@link applyDelta}. Delivery may drop, repeat or reorder
   * deltas; a dropped one is recovered by a later {@link merge} of a full state
   * or by {@link missingFor}.
   */
  takeDelta(): Uint8Array | undefined {
    this.#assertRoot("takeDelta");
    if (this.#delta === undefined) return undefined;
    const bytes = encodeEnvelope("delta", this.#kernel, this.#delta.store, this.#delta.ctx);
    this.#delta = undefined;
    return bytes;
  }

  /** Applies an encoded delta (or state) from another replica. Idempotent, commutative, associative. */
  applyDelta(delta: Uint8Array): void {
    this.merge(delta);
  }

  /**
   * Merges another replica's state: an instance of the same type, or bytes
   * from {@link encodeState}, {@link takeDelta} or {@link missingFor}.
   * Idempotent, commutative and associative. Merging does not add to this
   * replica's pending delta.
   */
  merge(other: Crdt<S, V> | Uint8Array): void {
    this.#assertRoot("merge");
    if (other === this) return;
    if (other instanceof Uint8Array) {
      const decoded = decodeEnvelope(other, this.#kernel, this.#describe());
      if (decoded.store === undefined) {
        throw new CrdtError(
          "invalid-argument",
          `${this.#describe()} was given a context, not a state or delta; pass context bytes to missingFor()`,
        );
      }
      this.#join(decoded.store, decoded.ctx, decoded.kind === "delta" ? APPLY_DELTA : MERGE_STATE);
      return;
    }
    if (other instanceof Crdt && other.#binding !== undefined) other.#assertRoot("merge");
    if (!(other instanceof Crdt) || other.#kernel !== this.#kernel) {
      const name = other instanceof Crdt ? other.#kernel.typeName : typeof other;
      throw new CrdtError(
        "type-mismatch",
        `cannot merge a ${name} into ${this.#describe()}; merge states of the same type only`,
      );
    }
    this.#join(other.store, other.ctx, MERGE_STATE);
  }

  #join(store: S, ctx: DotContext, mode: JoinMode): void {
    this.#kernel.check(this.#store, this.#ctx, store, ctx, mode, "");
    this.#store = this.#kernel.join(this.#store, this.#ctx, store, ctx, mode);
    this.#ctx.union(ctx);
  }

  /** The full state, encoded (canonical: equal states give equal bytes). */
  encodeState(): Uint8Array {
    this.#assertRoot("encodeState");
    return encodeEnvelope("state", this.#kernel, this.store, this.ctx);
  }

  /** The causal context alone: send it to a peer so it can answer with {@link missingFor}. */
  encodeContext(): Uint8Array {
    this.#assertRoot("encodeContext");
    return encodeEnvelope("context", this.#kernel, this.store, this.ctx);
  }

  /**
   * Anti-entropy: given a peer's {@link encodeContext}, returns an encoding
   * that brings the peer up to date with everything this replica has seen
   * (writes it lacks, and removals of what it still holds), or `undefined`
   * when the peer's state already equals this one. The answer holds the
   * writes the peer has not seen plus this replica's context with holes at
   * the live dots the peer has: its size grows with the changes and with the
   * number of live elements, never with the history of removed ones.
   */
  missingFor(remoteContext: Uint8Array): Uint8Array | undefined {
    this.#assertRoot("missingFor");
    const decoded = decodeEnvelope(remoteContext, this.#kernel, this.#describe());
    if (decoded.digest === undefined) {
      throw new CrdtError(
        "invalid-argument",
        `missingFor() on ${this.#describe()} needs context bytes from encodeContext(), got a ${decoded.kind}`,
      );
    }
    const remote = decoded.ctx;
    // Same context and same live dots means same state. A covering context
    // alone is not enough: the peer may still hold a dot we know is removed.
    if (remote.covers(this.#ctx) && this.#ctx.covers(remote)) {
      const [h1, h2] = liveDigest(this.#kernel, this.#store);
      if (decoded.digest[0] === h1 && decoded.digest[1] === h2) return undefined;
    }
    const store = this.#kernel.restrict(this.#store, remote);
    // Leave out of the context our live dots that the peer has already seen:
    // they are not in the answer's store, and a dot in the context but not
    // in the store reads as "removed". (The peer holds them, or has removed
    // them itself; either way it needs nothing about them.)
    const ctx = this.#ctx.clone();
    this.#kernel.forEachDot(this.#store, (d) => {
      if (remote.has(d)) ctx.remove(d);
    });
    return encodeEnvelope("state", this.#kernel, store, ctx);
  }

  /**
   * The replica ids with writes in `bytes` (a state or delta of this type)
   * that this replica has not seen, sorted. A transport that knows which
   * replica produced a delta uses it to refuse one that writes under another
   * replica's id: dots of a foreign id would clash with that replica's own.
   * Throws `type-mismatch` for bytes of another type and `malformed` for bad
   * bytes; changes nothing.
   *
   * @example
   * const runtimeCopy = new PNCounter("runtime");
   * const fn = new PNCounter("fn-1");
   * fn.increment();
   * runtimeCopy.unseenWriters(fn.takeDelta()!); // ["fn-1"]
   */
  unseenWriters(bytes: Uint8Array): string[] {
    this.#assertRoot("unseenWriters");
    const decoded = decodeEnvelope(bytes, this.#kernel, this.#describe());
    const writers: string[] = [];
    for (const replica of decoded.ctx.replicas()) {
      const ranges = decoded.ctx.rangesOf(replica);
      const theirs = new DotContext();
      for (let i = 0; i < ranges.length; i += 2)
        theirs.addRange(replica, ranges[i]!, ranges[i + 1]!);
      if (!this.#ctx.covers(theirs)) writers.push(replica);
    }
    return writers.sort();
  }

  /** True if both hold the same state (same store and same causal context). */
  equals(other: Crdt<S, V>): boolean {
    const a = this.encodeState();
    const b = other.encodeState();
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  /** Number of ranges in the causal context: grows only with replicas and delivery gaps. */
  get contextRanges(): number {
    return this.ctx.rangeCount;
  }

  /** @internal */
  [bind](binding: Binding<S>): this {
    this.#binding = binding;
    return this;
  }

  #assertRoot(op: string): void {
    if (this.#binding !== undefined) {
      throw new CrdtError(
        "invalid-argument",
        `${op}() called on the ${this.type} at ORMap key ${this.#binding.path}; values inside a map replicate with their map: call ${op}() on the ORMap`,
      );
    }
  }

  #describe(): string {
    return this.#binding === undefined
      ? `${this.type} of replica '${this.replicaId}'`
      : `the ${this.type} at ORMap key ${this.#binding.path}`;
  }
}
