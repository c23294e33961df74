/**
 * The write half of {@link DurableWorkStore}, the same for every adapter:
 * each call becomes one group-committed write, so completing a delivered
 * effect or retrying a timer costs a share of a batch rather than a commit.
 */
import type { DurableWork } from "./durable-work.js";
import type { GroupCommitter } from "./group-commit.js";
import type { WorkOp } from "./work-plan.js";

/** Base of the store classes: the durable-work writes over the store's group committer. */
export abstract class DurableWorkWrites {
  protected abstract readonly committer: GroupCommitter;

  /** Stores effects and timer changes without a state change (stateless actions). */
  async writeWork(work: DurableWork): Promise<void> {
    await this.committer.submit({ kind: "work", work });
  }

  /** Removes a delivered outbox entry. */
  completeOutbox(id: number): Promise<void> {
    return this.op({ kind: "completeOutbox", id });
  }

  /** Counts a failed delivery; the entry is loaded again once `notBefore` has passed. */
  retryOutbox(id: number, notBefore: number): Promise<void> {
    return this.op({ kind: "retryOutbox", id, notBefore });
  }

  /** Removes the timer if it is still at `generation`. */
  completeTimer(owner: string, name: string, generation: number): Promise<void> {
    return this.op({ kind: "completeTimer", owner, name, generation });
  }

  /** Moves a failed timer to `dueAt` and counts the attempt (same generation only). */
  retryTimer(owner: string, name: string, generation: number, dueAt: number): Promise<void> {
    return this.op({ kind: "retryTimer", owner, name, generation, dueAt });
  }

  /** Parks a timer whose target is gone (same generation only). */
  parkTimer(owner: string, name: string, generation: number, reason: string): Promise<void> {
    return this.op({ kind: "parkTimer", owner, name, generation, reason });
  }

  private async op(op: WorkOp): Promise<void> {
    await this.committer.submit({ kind: "op", op });
  }
}
