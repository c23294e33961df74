/**
 * The outbox and timers of the SQLite store. The write half runs on the
 * writer connection, inside the batch transaction of the writes that carry
 * the work; the read half runs on the store's read-only connection.
 */
import type Database from "better-sqlite3";
import type { DurableWork, OutboxEntry, StoredCall, TimerEntry } from "./durable-work.js";
import type { Outcome } from "./group-commit.js";
import { SqliteIdempotencyWriter } from "./sqlite-idempotency.js";
import { timerLimitViolation } from "./work-plan.js";
import type { TimerIndex, WorkOp } from "./work-plan.js";

/** Binds a payload's bytes without copying (better-sqlite3 binds Buffers, not Uint8Arrays). */
function blob(v: Uint8Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Writes durable work on the writer connection; the caller holds the batch transaction. */
export class SqliteWorkWriter implements TimerIndex {
  private readonly stmts;
  private readonly idempotency: SqliteIdempotencyWriter;

  constructor(
    db: Database.Database,
    private readonly limit: number,
    maxKeysPerEntity: number,
  ) {
    this.idempotency = new SqliteIdempotencyWriter(db, maxKeysPerEntity);
    this.stmts = {
      count: db.prepare(`SELECT COUNT(*) FROM cairn_timers WHERE owner = ?`).pluck(),
      has: db.prepare(`SELECT 1 FROM cairn_timers WHERE owner = ? AND name = ?`).pluck(),
      outbox: db.prepare(
        `INSERT INTO cairn_outbox (service, method, type_url, payload, metadata, attempts, not_before, created_at)
         VALUES (?, ?, ?, ?, ?, 0, 0, ?)`,
      ),
      // REPLACE deletes the old row and inserts a new one, so the timer gets a
      // new AUTOINCREMENT generation: a firing of the old schedule no longer matches.
      schedule: db.prepare(
        `INSERT OR REPLACE INTO cairn_timers (owner, name, due_at, attempts, service, method, type_url, payload, metadata)
         VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?)`,
      ),
      cancel: db.prepare(`DELETE FROM cairn_timers WHERE owner = ? AND name = ?`),
      completeOutbox: db.prepare(`DELETE FROM cairn_outbox WHERE id = ?`),
      retryOutbox: db.prepare(
        `UPDATE cairn_outbox SET attempts = attempts + 1, not_before = ? WHERE id = ?`,
      ),
      completeTimer: db.prepare(
        `DELETE FROM cairn_timers WHERE owner = ? AND name = ? AND generation = ?`,
      ),
      retryTimer: db.prepare(
        `UPDATE cairn_timers SET attempts = attempts + 1, due_at = ? WHERE owner = ? AND name = ? AND generation = ?`,
      ),
      parkTimer: db.prepare(
        `UPDATE cairn_timers SET parked = ? WHERE owner = ? AND name = ? AND generation = ?`,
      ),
    };
  }

  count(owner: string): number {
    return this.stmts.count.get(owner) as number;
  }

  has(owner: string, name: string): boolean {
    return this.stmts.has.get(owner, name) !== undefined;
  }

  /** The timer-limit outcome the work would cause, if any; checked before the write changes anything. */
  check(work: DurableWork): Outcome | undefined {
    const over = timerLimitViolation(work.timers, this, this.limit);
    return over && { kind: "timerLimit", ...over, limit: this.limit };
  }

  /** Stores the work; the caller has checked it. */
  apply(work: DurableWork, now: number): void {
    for (const c of work.outbox ?? []) {
      this.stmts.outbox.run(
        c.service,
        c.method,
        c.payload.typeUrl,
        blob(c.payload.value),
        json(c),
        now,
      );
    }
    for (const t of work.timers ?? []) {
      if (t.kind === "cancel") this.stmts.cancel.run(t.owner, t.name);
      else {
        const c = t.call;
        this.stmts.schedule.run(
          t.owner,
          t.name,
          t.dueAt,
          c.service,
          c.method,
          c.payload.typeUrl,
          blob(c.payload.value),
          json(c),
        );
      }
    }
    this.idempotency.apply(work.idempotency, now);
  }

  /** Work alone (writeWork): checked, then stored. */
  write(work: DurableWork, now: number): Outcome {
    const limited = this.check(work);
    if (limited) return limited;
    this.apply(work, now);
    return { kind: "ok", value: 0 };
  }

  /** Applies an operation; the generation guard is part of each timer statement's WHERE. */
  op(op: WorkOp): Outcome {
    const s = this.stmts;
    switch (op.kind) {
      case "expireIdempotency":
        return { kind: "ok", value: this.idempotency.expire(op.before, op.limit) };
      case "completeOutbox":
        s.completeOutbox.run(op.id);
        break;
      case "retryOutbox":
        s.retryOutbox.run(op.notBefore, op.id);
        break;
      case "completeTimer":
        s.completeTimer.run(op.owner, op.name, op.generation);
        break;
      case "retryTimer":
        s.retryTimer.run(op.dueAt, op.owner, op.name, op.generation);
        break;
      case "parkTimer":
        s.parkTimer.run(op.reason, op.owner, op.name, op.generation);
        break;
    }
    return { kind: "ok", value: 0 };
  }
}

/** Metadata as stored: a JSON object of strings. */
function json(c: StoredCall): string {
  return JSON.stringify(c.metadata);
}

interface CallRow {
  service: string;
  method: string;
  type_url: string;
  payload: Buffer;
  metadata: string;
}

interface OutboxRow extends CallRow {
  id: number;
  shard: number;
  attempts: number;
  not_before: number;
}

interface TimerRow extends CallRow {
  owner: string;
  name: string;
  due_at: number;
  generation: number;
  shard: number;
  attempts: number;
  parked: string | null;
}

const CALL = `service, method, type_url, payload, metadata`;
const TIMER = `owner, name, due_at, generation, shard, attempts, parked, ${CALL}`;

/**
 * SQLite is single-node, so every row is in shard 0 (no fenced write can
 * reach it): a read for other shards finds nothing.
 */
function outside(shards: readonly number[] | undefined): boolean {
  return shards !== undefined && !shards.includes(0);
}

/** Reads durable work on the read-only connection. */
export class SqliteWorkReader {
  private readonly stmts;

  constructor(db: Database.Database) {
    this.stmts = {
      outbox: db.prepare(
        `SELECT id, shard, attempts, not_before, ${CALL} FROM cairn_outbox WHERE not_before <= ? ORDER BY id LIMIT ?`,
      ),
      due: db.prepare(
        `SELECT ${TIMER} FROM cairn_timers WHERE parked IS NULL AND due_at <= ?
         ORDER BY due_at, generation LIMIT ?`,
      ),
      next: db.prepare(`SELECT MIN(due_at) FROM cairn_timers WHERE parked IS NULL`).pluck(),
      list: db.prepare(
        `SELECT ${TIMER} FROM cairn_timers WHERE owner = ? ORDER BY due_at, generation`,
      ),
    };
  }

  loadOutbox(now: number, limit: number, shards?: readonly number[]): OutboxEntry[] {
    if (outside(shards)) return [];
    return (this.stmts.outbox.all(now, limit) as OutboxRow[]).map((r) => ({
      ...toCall(r),
      id: r.id,
      shard: r.shard,
      attempts: r.attempts,
      notBefore: r.not_before,
    }));
  }

  loadDueTimers(now: number, limit: number, shards?: readonly number[]): TimerEntry[] {
    if (outside(shards)) return [];
    return (this.stmts.due.all(now, limit) as TimerRow[]).map(toTimer);
  }

  nextTimerDue(shards?: readonly number[]): number | undefined {
    if (outside(shards)) return undefined;
    return (this.stmts.next.get() as number | null) ?? undefined;
  }

  listTimers(owner: string): TimerEntry[] {
    return (this.stmts.list.all(owner) as TimerRow[]).map(toTimer);
  }
}

function toCall(r: CallRow): StoredCall {
  return {
    service: r.service,
    method: r.method,
    payload: {
      typeUrl: r.type_url,
      value: new Uint8Array(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
    },
    metadata: JSON.parse(r.metadata) as Record<string, string>,
  };
}

function toTimer(r: TimerRow): TimerEntry {
  return {
    ...toCall(r),
    owner: r.owner,
    name: r.name,
    dueAt: r.due_at,
    generation: r.generation,
    shard: r.shard,
    attempts: r.attempts,
    ...(r.parked === null ? {} : { parked: r.parked }),
  };
}
