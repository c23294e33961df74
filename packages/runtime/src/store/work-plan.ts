/**
 * What every adapter shares about durable work (outbox and timers): the
 * operations on stored work, their validation, and the per-owner timer
 * limit, decided by one function so the three adapters agree exactly.
 */
import { CairnError, Code } from "@cairn/protocol";
import type { FencedWrite } from "./cluster.js";
import type { DurableWork, TimerChange } from "./durable-work.js";
import { validateIdempotency } from "./idempotency.js";

/** Timers one owner may hold (parked included) unless StoreOptions.maxTimersPerOwner says otherwise. */
export const DEFAULT_MAX_TIMERS_PER_OWNER = 1000;

/** Identifies one scheduling of a timer: a firing acts only on the schedule it came from. */
interface TimerFiring {
  readonly owner: string;
  readonly name: string;
  readonly generation: number;
}

/**
 * An operation on stored work, group-committed like any write. Plain data,
 * so it can cross to the SQLite worker thread.
 */
export type WorkOp = FencedWrite &
  (
    | { readonly kind: "completeOutbox"; readonly id: number }
    | { readonly kind: "retryOutbox"; readonly id: number; readonly notBefore: number }
    | ({ readonly kind: "completeTimer" } & TimerFiring)
    | ({ readonly kind: "retryTimer"; readonly dueAt: number } & TimerFiring)
    | ({ readonly kind: "parkTimer"; readonly reason: string } & TimerFiring)
    | { readonly kind: "expireIdempotency"; readonly before: number; readonly limit: number }
  );

/** What the limit check needs to know of the timers stored so far (earlier writes of the batch included). */
export interface TimerIndex {
  count(owner: string): number;
  has(owner: string, name: string): boolean;
}

/** An owner that a write would take past the limit, with the count it would reach. */
export interface TimerLimitViolation {
  readonly owner: string;
  readonly count: number;
}

/** Key of a timer; the NUL separator cannot occur in a service or entity name. */
export function timerKey(owner: string, name: string): string {
  return `${owner}\u0000${name}`;
}

/** The last change per (owner, name), in first-seen order: what a list of changes leaves behind. */
export function netTimerChanges<C extends TimerChange>(changes: readonly C[]): Map<string, C> {
  const net = new Map<string, C>();
  for (const change of changes) {
    const key = timerKey(change.owner, change.name);
    net.delete(key);
    net.set(key, change);
  }
  return net;
}

/**
 * The owner whose timer count the write's changes would take above `limit`,
 * if any. Replacing or cancelling never counts against the limit: only an
 * owner whose count grows can fail, so an owner already above a lowered
 * limit may still reschedule its timers.
 */
export function timerLimitViolation(
  timers: readonly TimerChange[] | undefined,
  index: TimerIndex,
  limit: number,
): TimerLimitViolation | undefined {
  if (timers === undefined || !timers.some((t) => t.kind === "schedule")) return undefined;
  const growth = new Map<string, number>();
  for (const change of netTimerChanges(timers).values()) {
    const before = index.has(change.owner, change.name) ? 1 : 0;
    const after = change.kind === "schedule" ? 1 : 0;
    growth.set(change.owner, (growth.get(change.owner) ?? 0) + after - before);
  }
  for (const [owner, grown] of growth) {
    if (grown <= 0) continue;
    const count = index.count(owner) + grown;
    if (count > limit) return { owner, count };
  }
  return undefined;
}

/** True when the work stores anything. */
export function hasWork(work: DurableWork): boolean {
  return (
    (work.outbox?.length ?? 0) > 0 ||
    (work.timers?.length ?? 0) > 0 ||
    (work.idempotency?.length ?? 0) > 0
  );
}

/** The error of malformed work, caught before it can poison a batch; `where` names the write. */
export function validateWork(work: DurableWork, where: string): CairnError | undefined {
  for (const call of work.outbox ?? []) {
    if (
      typeof call.service !== "string" ||
      call.service === "" ||
      typeof call.method !== "string"
    ) {
      return invalid(
        `an outbox entry of ${where} has no service or method; pass the target's full service name and method`,
      );
    }
  }
  for (const t of work.timers ?? []) {
    if (
      typeof t.owner !== "string" ||
      t.owner === "" ||
      typeof t.name !== "string" ||
      t.name === ""
    ) {
      return invalid(
        `a timer of ${where} has an empty owner or name ('${String(t.owner)}', '${String(t.name)}'); pass both`,
      );
    }
    if (t.kind === "schedule" && !Number.isSafeInteger(t.dueAt)) {
      return invalid(
        `timer '${t.name}' of ${t.owner} has dueAt ${String(t.dueAt)}; use integer epoch milliseconds`,
      );
    }
  }
  return validateIdempotency(work.idempotency, where);
}

/** The error of a malformed operation on stored work. */
export function validateOp(op: WorkOp): CairnError | undefined {
  if (op.kind === "expireIdempotency") {
    if (!Number.isSafeInteger(op.before) || !Number.isSafeInteger(op.limit) || op.limit < 1) {
      return invalid(
        `expireIdempotency got before ${String(op.before)} and limit ${String(op.limit)}; use integer epoch milliseconds and a positive limit`,
      );
    }
    return undefined;
  }
  if (op.kind === "completeOutbox" || op.kind === "retryOutbox") {
    if (!Number.isSafeInteger(op.id))
      return invalid(`${op.kind} got outbox id ${String(op.id)}; pass the id of a loaded entry`);
    if (op.kind === "retryOutbox" && !Number.isSafeInteger(op.notBefore)) {
      return invalid(
        `retryOutbox of entry ${op.id} got notBefore ${String(op.notBefore)}; use integer epoch milliseconds`,
      );
    }
    return undefined;
  }
  if (!Number.isSafeInteger(op.generation)) {
    return invalid(
      `${op.kind} of timer '${op.name}' (${op.owner}) got generation ${String(op.generation)}; pass the loaded timer's generation`,
    );
  }
  if (op.kind === "retryTimer" && !Number.isSafeInteger(op.dueAt)) {
    return invalid(
      `retryTimer of timer '${op.name}' (${op.owner}) got dueAt ${String(op.dueAt)}; use integer epoch milliseconds`,
    );
  }
  return undefined;
}

function invalid(message: string): CairnError {
  return new CairnError(Code.InvalidArgument, message);
}
