/**
 * The outbox and timers of the in-memory store. The memory store applies a
 * batch's writes one by one, so this keeps plain maps and checks the timer
 * limit against them before a write changes anything.
 */
import type { DurableWork, OutboxEntry, StoredCall, TimerEntry } from "./durable-work.js";
import type { Outcome } from "./group-commit.js";
import { instanceKey } from "./idempotency.js";
import type { IdempotencyRecord, IdempotencyWrite } from "./idempotency.js";
import type { EntityRef } from "./types.js";
import { timerLimitViolation } from "./work-plan.js";
import type { TimerIndex, WorkOp } from "./work-plan.js";

/** Durable work held in memory; lost on close like the rest of the memory store. */
export class MemoryWork implements TimerIndex {
  /** By id; a Map iterates in insertion order, which is id order. */
  private readonly outbox = new Map<number, OutboxEntry>();
  /** By owner, then name. */
  private readonly timers = new Map<string, Map<string, TimerEntry>>();
  /** Idempotency records by instance, then key; a Map keeps them oldest first. */
  private readonly records = new Map<string, Map<string, IdempotencyRecord>>();
  private nextOutboxId = 1;
  private nextGeneration = 1;

  constructor(
    private readonly limit: number,
    private readonly maxKeysPerEntity: number,
  ) {}

  count(owner: string): number {
    return this.timers.get(owner)?.size ?? 0;
  }

  has(owner: string, name: string): boolean {
    return this.timers.get(owner)?.has(name) ?? false;
  }

  /** The timer-limit outcome the work would cause, if any; checked before the write changes anything. */
  check(work: DurableWork): Outcome | undefined {
    const over = timerLimitViolation(work.timers, this, this.limit);
    return over && { kind: "timerLimit", ...over, limit: this.limit };
  }

  /** Stores the work in `shard`; the caller has checked it. */
  apply(work: DurableWork, shard: number): void {
    for (const call of work.outbox ?? []) {
      const id = this.nextOutboxId++;
      this.outbox.set(id, { ...copyCall(call), id, shard, attempts: 0, notBefore: 0 });
    }
    for (const t of work.timers ?? []) {
      if (t.kind === "cancel") {
        this.timers.get(t.owner)?.delete(t.name);
        continue;
      }
      const owned = this.timers.get(t.owner) ?? new Map<string, TimerEntry>();
      const entry: TimerEntry = {
        ...copyCall(t.call),
        owner: t.owner,
        name: t.name,
        dueAt: t.dueAt,
        generation: this.nextGeneration++,
        shard,
        attempts: 0,
      };
      owned.set(t.name, entry);
      this.timers.set(t.owner, owned);
    }
    for (const r of work.idempotency ?? []) this.record(r);
  }

  /** Keeps a record; the first record of a key stands, and the oldest beyond the bound go. */
  private record(r: IdempotencyWrite): void {
    const key = instanceKey(r);
    const kept = this.records.get(key) ?? new Map<string, IdempotencyRecord>();
    if (kept.has(r.key)) return;
    kept.set(r.key, {
      entityType: r.entityType,
      entityId: r.entityId,
      key: r.key,
      requestHash: r.requestHash,
      outcome: { typeUrl: r.outcome.typeUrl, value: Uint8Array.from(r.outcome.value) },
      createdAt: Date.now(),
    });
    for (const oldest of kept.keys()) {
      if (kept.size <= this.maxKeysPerEntity) break;
      kept.delete(oldest);
    }
    this.records.set(key, kept);
  }

  loadIdempotency(ref: EntityRef, key: string): IdempotencyRecord | undefined {
    return this.records.get(instanceKey(ref))?.get(key);
  }

  /** Removes up to `limit` records created before `before`, oldest first; returns the count. */
  private expire(before: number, limit: number): number {
    const expired: [Map<string, IdempotencyRecord>, IdempotencyRecord][] = [];
    for (const kept of this.records.values()) {
      for (const r of kept.values()) {
        if (r.createdAt >= before) break;
        expired.push([kept, r]);
      }
    }
    expired.sort((a, b) => a[1].createdAt - b[1].createdAt);
    const removed = expired.slice(0, limit);
    for (const [kept, r] of removed) {
      kept.delete(r.key);
      if (kept.size === 0) this.records.delete(instanceKey(r));
    }
    return removed.length;
  }

  /** Work alone (writeWork): checked, then stored in `shard`. */
  write(work: DurableWork, shard: number): Outcome {
    const limited = this.check(work);
    if (limited) return limited;
    this.apply(work, shard);
    return { kind: "ok", value: 0 };
  }

  /** Applies an operation; one on a missing entry or an old generation changes nothing. */
  op(op: WorkOp): Outcome {
    if (op.kind === "expireIdempotency")
      return { kind: "ok", value: this.expire(op.before, op.limit) };
    if (op.kind === "completeOutbox") this.outbox.delete(op.id);
    else if (op.kind === "retryOutbox") {
      const e = this.outbox.get(op.id);
      if (e) this.outbox.set(op.id, { ...e, attempts: e.attempts + 1, notBefore: op.notBefore });
    } else {
      const owned = this.timers.get(op.owner);
      const t = owned?.get(op.name);
      if (owned === undefined || t === undefined || t.generation !== op.generation) {
        return { kind: "ok", value: 0 };
      }
      if (op.kind === "completeTimer") owned.delete(op.name);
      else if (op.kind === "retryTimer") {
        owned.set(op.name, { ...t, dueAt: op.dueAt, attempts: t.attempts + 1 });
      } else owned.set(op.name, { ...t, parked: op.reason });
    }
    return { kind: "ok", value: 0 };
  }

  loadOutbox(now: number, limit: number, shards?: readonly number[]): OutboxEntry[] {
    const due: OutboxEntry[] = [];
    for (const e of this.outbox.values()) {
      if (due.length >= limit) break;
      if (e.notBefore <= now && inShards(e.shard, shards)) due.push(e);
    }
    return due;
  }

  loadDueTimers(now: number, limit: number, shards?: readonly number[]): TimerEntry[] {
    return this.unparked(shards)
      .filter((t) => t.dueAt <= now)
      .sort(byDue)
      .slice(0, limit);
  }

  nextTimerDue(shards?: readonly number[]): number | undefined {
    return this.unparked(shards).sort(byDue).at(0)?.dueAt;
  }

  listTimers(owner: string): TimerEntry[] {
    return [...(this.timers.get(owner)?.values() ?? [])].sort(byDue);
  }

  private unparked(shards: readonly number[] | undefined): TimerEntry[] {
    const all: TimerEntry[] = [];
    for (const owned of this.timers.values()) {
      for (const t of owned.values()) {
        if (t.parked === undefined && inShards(t.shard, shards)) all.push(t);
      }
    }
    return all;
  }
}

/** True when no shard filter is given or `shard` is in it. */
function inShards(shard: number, shards: readonly number[] | undefined): boolean {
  return shards === undefined || shards.includes(shard);
}

/** Earliest first; ties by generation, i.e. scheduling order. */
function byDue(a: TimerEntry, b: TimerEntry): number {
  return a.dueAt - b.dueAt || a.generation - b.generation;
}

/** Copies a call so a caller reusing its buffers or objects cannot change stored data. */
function copyCall(c: StoredCall): StoredCall {
  return {
    service: c.service,
    method: c.method,
    payload: { typeUrl: c.payload.typeUrl, value: Uint8Array.from(c.payload.value) },
    metadata: { ...c.metadata },
  };
}
