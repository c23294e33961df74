/**
 * The write half of {@link DurableWorkStore}, the same for every adapter:
 * each call becomes one group-committed write, so completing a delivered
 * effect or retrying a timer costs a share of a batch rather than a commit.
 */
import type { Fence, FencedWrite } from "./cluster.js";
import type { DurableWork } from "./durable-work.js";
import type { GroupCommitter } from "./group-commit.js";
import type { WorkOp } from "./work-plan.js";

/** Base of the store classes: the durable-work writes over the store's group committer. */
export abstract class DurableWorkWrites {
  protected abstract readonly committer: GroupCommitter;

  /** Stores effects and timer changes without a state change (stateless actions). */
  async writeWork(work: DurableWork & FencedWrite): Promise<void> {
    await this.committer.submit({ kind: "work", work });
  }

  /** Removes a delivered outbox entry. */
  completeOutbox(id: number, fence?: Fence): Promise<void> {
    return this.op({ kind: "completeOutbox", id, fence });
  }

  /** Counts a failed delivery; the entry is loaded again once `notBefore` has passed. */
  retryOutbox(id: number, notBefore: number, fence?: Fence): Promise<void> {
    return this.op({ kind: "retryOutbox", id, notBefore, fence });
  }

  /** Removes the timer if it is still at `generation`. */
  completeTimer(owner: string, name: string, generation: number, fence?: Fence): Promise<void> {
    return this.op({ kind: "completeTimer", owner, name, generation, fence });
  }

  /** Moves a failed timer to `dueAt` and counts the attempt (same generation only). */
  retryTimer(
    owner: string,
    name: string,
    generation: number,
    dueAt: number,
    fence?: Fence,
  ): Promise<void> {
    return this.op({ kind: "retryTimer", owner, name, generation, dueAt, fence });
  }

  /** Parks a timer whose target is gone (same generation only). */
  parkTimer(
    owner: string,
    name: string,
    generation: number,
    reason: string,
    fence?: Fence,
  ): Promise<void> {
    return this.op({ kind: "parkTimer", owner, name, generation, reason, fence });
  }

  /** Removes up to `limit` idempotency records committed before `before`; resolves to the count removed. */
  expireIdempotency(before: number, limit: number): Promise<number> {
    return this.committer.submit({ kind: "op", op: { kind: "expireIdempotency", before, limit } });
  }

  private async op(op: WorkOp): Promise<void> {
    await this.committer.submit({ kind: "op", op });
  }
}
