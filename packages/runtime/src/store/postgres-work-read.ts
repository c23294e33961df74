/**
 * The read half of the PostgreSQL store's outbox and timers, on the pool
 * (any connection; reads need no transaction). BIGINT columns arrive as
 * strings and become numbers here.
 */
import type pg from "pg";
import type { OutboxEntry, StoredCall, TimerEntry } from "./durable-work.js";

interface CallRow {
  service: string;
  method: string;
  type_url: string;
  payload: Buffer;
  metadata: string;
}

interface OutboxRow extends CallRow {
  id: string;
  shard: number;
  attempts: number;
  not_before: string;
}

interface TimerRow extends CallRow {
  owner: string;
  name: string;
  due_at: string;
  generation: string;
  shard: number;
  attempts: number;
  parked: string | null;
}

const CALL = `service, method, type_url, payload, metadata`;
const TIMER = `owner, name, due_at, generation, shard, attempts, parked, ${CALL}`;

/** The shard filter of a read: `$n` is the shards' array, or NULL for every shard. */
function inShards(n: number): string {
  return `($${n}::int[] IS NULL OR shard = ANY($${n}::int[]))`;
}

/** Reads outbox entries and timers of one schema. */
export class PostgresWorkReader {
  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  async loadOutbox(now: number, limit: number, shards?: readonly number[]): Promise<OutboxEntry[]> {
    const { rows } = await this.pool.query<OutboxRow>(
      `SELECT id, shard, attempts, not_before, ${CALL} FROM ${this.schema}.cairn_outbox
       WHERE not_before <= $1 AND ${inShards(3)} ORDER BY id LIMIT $2`,
      [now, limit, shards ?? null],
    );
    return rows.map((r) => ({
      ...toCall(r),
      id: Number(r.id),
      shard: r.shard,
      attempts: r.attempts,
      notBefore: Number(r.not_before),
    }));
  }

  async loadDueTimers(
    now: number,
    limit: number,
    shards?: readonly number[],
  ): Promise<TimerEntry[]> {
    const { rows } = await this.pool.query<TimerRow>(
      `SELECT ${TIMER} FROM ${this.schema}.cairn_timers WHERE parked IS NULL AND due_at <= $1
       AND ${inShards(3)} ORDER BY due_at, generation LIMIT $2`,
      [now, limit, shards ?? null],
    );
    return rows.map(toTimer);
  }

  async nextTimerDue(shards?: readonly number[]): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ due: string | null }>(
      `SELECT MIN(due_at) AS due FROM ${this.schema}.cairn_timers WHERE parked IS NULL AND ${inShards(1)}`,
      [shards ?? null],
    );
    const due = rows[0]?.due ?? null;
    return due === null ? undefined : Number(due);
  }

  async listTimers(owner: string): Promise<TimerEntry[]> {
    const { rows } = await this.pool.query<TimerRow>(
      `SELECT ${TIMER} FROM ${this.schema}.cairn_timers WHERE owner = $1 ORDER BY due_at, generation`,
      [owner],
    );
    return rows.map(toTimer);
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
    dueAt: Number(r.due_at),
    generation: Number(r.generation),
    shard: r.shard,
    attempts: r.attempts,
    ...(r.parked === null ? {} : { parked: r.parked }),
  };
}
