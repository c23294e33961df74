/**
 * Flag and Vote: single-bit CRDTs.
 */
import { Crdt } from "../crdt.js";
import { DotContext } from "../dot-context.js";
import { CrdtError } from "../errors.js";
import { ownEntry } from "../kernels/dot-fun.js";
import type { DotFun } from "../kernels/dot-fun.js";
import { flagKernel, voteKernel, voteValue } from "../kernels/registers.js";
import type { VoteValue } from "../kernels/registers.js";

/**
 * Flag: `false` until some replica enables it, then `true` forever (enable
 * wins). Choose it for one-way switches: "feature unlocked", "order shipped".
 * Inside an {@link ORMap}, removing the key resets it, but an enable the
 * remove did not observe still wins.
 *
 * @example
 * const shipped = new Flag("node-1");
 * shipped.enable();
 * shipped.value; // true
 */
export class Flag extends Crdt<DotFun<null>, boolean> {
  /** Stable type name. */
  static readonly typeName = "Flag";

  constructor(replicaId: string) {
    super(flagKernel, replicaId);
  }

  /** Whether any replica has enabled the flag. */
  get value(): boolean {
    return this.store.length > 0;
  }

  /** Enables the flag; a no-op (no delta) when it is already enabled here. */
  enable(): void {
    if (this.store.length > 0) return;
    const dot = this.nextDot();
    this.mutate([{ dot, value: null }], DotContext.of(dot));
  }
}

/**
 * Vote: each replica holds one boolean vote that it may change; the value
 * counts votes for and voters, so "all agree" (`votesFor === voters`),
 * "majority" and "at least one" can be read from it. A replica becomes a
 * voter when it first calls {@link Vote.vote} (voting `false` registers it
 * without voting for). Choose it for cluster-wide agreement on a flag that
 * can also be withdrawn.
 *
 * @example
 * const ready = new Vote("node-1");
 * ready.vote(true);
 * ready.value; // { votesFor: 1, voters: 1, selfVote: true }
 * ready.allVotedFor; // true
 */
export class Vote extends Crdt<DotFun<boolean>, VoteValue> {
  /** Stable type name. */
  static readonly typeName = "Vote";

  constructor(replicaId: string) {
    super(voteKernel, replicaId);
  }

  /** Votes for, voters, and this replica's vote. */
  get value(): VoteValue {
    return voteValue(this.store, this.replicaId);
  }

  /** True when there is at least one voter and every voter votes `true`. */
  get allVotedFor(): boolean {
    const v = this.value;
    return v.voters > 0 && v.votesFor === v.voters;
  }

  /** True when more than half of the voters vote `true`. */
  get majorityVotedFor(): boolean {
    const v = this.value;
    return v.votesFor * 2 > v.voters;
  }

  /** True when at least one voter votes `true`. */
  get anyVotedFor(): boolean {
    return this.value.votesFor > 0;
  }

  /** Sets this replica's vote; a no-op (no delta) when unchanged. */
  vote(value: boolean): void {
    if (typeof value !== "boolean") {
      throw new CrdtError(
        "invalid-argument",
        `Vote.vote(${String(value)}): the vote must be true or false`,
      );
    }
    const own = ownEntry(this.store, this.replicaId);
    if (own?.value === value) return;
    const dot = this.nextDot();
    const ctx = DotContext.of(dot);
    if (own) ctx.add(own.dot);
    this.mutate([{ dot, value }], ctx);
  }
}
