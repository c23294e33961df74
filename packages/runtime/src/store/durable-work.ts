/**
 * Durable work a command leaves behind besides its state change:
 * asynchronous effects (an outbox) and timers. Both are written in the same
 * transaction as the state change that produced them (or on their own for
 * stateless actions), so a runtime killed right after the commit still
 * delivers them after it restarts: at least once, never lost.
 */
import type { Fence, FencedWrite } from "./cluster.js";
import type { IdempotencyWrite } from "./idempotency.js";
import type { StoredPayload } from "./types.js";

/** A call to a component method, as stored for later delivery. */
export interface StoredCall {
  /** Fully qualified service name. */
  readonly service: string;
  readonly method: string;
  /** The request, an Any of the method's input type. */
  readonly payload: StoredPayload;
  /** Metadata to send with the call (lower-case keys). */
  readonly metadata: Readonly<Record<string, string>>;
}

/** An asynchronous effect waiting in the outbox. */
export interface OutboxEntry extends StoredCall {
  /** Assigned by the store. */
  readonly id: number;
  /** The shard of the write that stored it (0 without a fence): its owner delivers it. */
  readonly shard: number;
  /** Delivery attempts so far. */
  readonly attempts: number;
  /** Epoch ms before which the entry is not retried. */
  readonly notBefore: number;
}

/**
 * A timer. Timers are scoped by `owner` (the scheduling component instance,
 * e.g. "usersession.v1.UserSession/s1"; an action's owner is its service
 * name): scheduling the same (owner, name) replaces the timer.
 */
export interface TimerEntry extends StoredCall {
  readonly owner: string;
  readonly name: string;
  /** The shard of the write that scheduled it (0 without a fence): its owner fires it. */
  readonly shard: number;
  /** Epoch ms when the call is due (moved forward by retries). */
  readonly dueAt: number;
  /** Changes on every (re)schedule, so completing an old firing never removes a newer timer. */
  readonly generation: number;
  readonly attempts: number;
  /** Set when the timer's target no longer exists: kept for operators, never fired again. */
  readonly parked?: string;
}

/** A timer change carried by a command's reply. */
export type TimerChange =
  | {
      readonly kind: "schedule";
      readonly owner: string;
      readonly name: string;
      readonly dueAt: number;
      readonly call: StoredCall;
    }
  | { readonly kind: "cancel"; readonly owner: string; readonly name: string };

/** Durable work to store with a state change (fields of AppendRequest/SaveValueRequest) or alone. */
export interface DurableWork {
  readonly outbox?: readonly StoredCall[];
  readonly timers?: readonly TimerChange[];
  /** Idempotency records of the write's keyed commands (see idempotency.ts). */
  readonly idempotency?: readonly IdempotencyWrite[];
}

/** The store side of durable effects and timers; every adapter implements it. */
export interface DurableWorkStore {
  /**
   * Stores effects and timer changes without a state change (stateless
   * actions); group-committed. With a fence, the work belongs to its shard.
   */
  writeWork(work: DurableWork & FencedWrite): Promise<void>;
  /**
   * Outbox entries whose notBefore has passed, oldest first; only those of
   * `shards` when given (a cluster node reads the shards it owns).
   */
  loadOutbox(now: number, limit: number, shards?: readonly number[]): Promise<OutboxEntry[]>;
  /** Removes a delivered entry; with a fence, only while the fence holds. */
  completeOutbox(id: number, fence?: Fence): Promise<void>;
  /** Records a failed attempt; the entry is retried after notBefore. */
  retryOutbox(id: number, notBefore: number, fence?: Fence): Promise<void>;
  /** Due, unparked timers, earliest first; only those of `shards` when given. */
  loadDueTimers(now: number, limit: number, shards?: readonly number[]): Promise<TimerEntry[]>;
  /** Earliest dueAt of unparked timers (of `shards` when given), if any. */
  nextTimerDue(shards?: readonly number[]): Promise<number | undefined>;
  /** Removes the timer if it is still at `generation` (not rescheduled meanwhile). */
  completeTimer(owner: string, name: string, generation: number, fence?: Fence): Promise<void>;
  /** Moves a failed timer to `dueAt` and counts the attempt (same generation only). */
  retryTimer(
    owner: string,
    name: string,
    generation: number,
    dueAt: number,
    fence?: Fence,
  ): Promise<void>;
  /** Parks a timer whose target is gone (same generation only). */
  parkTimer(
    owner: string,
    name: string,
    generation: number,
    reason: string,
    fence?: Fence,
  ): Promise<void>;
  /** Timers of one owner (parked included), for limits and inspection. */
  listTimers(owner: string): Promise<TimerEntry[]>;
}
