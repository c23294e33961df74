/**
 * The outbox and timers of the PostgreSQL store. A batch's work goes in a
 * few set-based statements after its events and values: the timer limit is
 * checked in JavaScript against counts read in one query per batch, then one
 * INSERT adds the outbox rows, one DELETE applies the cancels and one upsert
 * the schedules (each (re)schedule draws a new identity `generation`). A write over
 * the limit writes nothing here; the caller rolls the batch back and redoes
 * it without that write, as it does for conflicts.
 */
import type pg from "pg";
import type { DurableWork, StoredCall, TimerChange } from "./durable-work.js";
import { fenceOf } from "./group-commit.js";
import type { Outcome, Write } from "./group-commit.js";
import { toBuffer } from "./postgres-append.js";
import { expirePostgresIdempotency } from "./postgres-idempotency.js";
import { netTimerChanges, timerKey, timerLimitViolation } from "./work-plan.js";
import type { TimerIndex, WorkOp } from "./work-plan.js";

/** The durable work a write carries (none for operations). */
export function workOf(w: Write): DurableWork {
  return w.kind === "work" ? w.work : w.kind === "op" ? {} : w.request;
}

/**
 * Stores the work of the batch's successful writes inside the open
 * transaction; returns the writes (by index) that would exceed the timer
 * limit, in which case it has written nothing.
 */
export async function commitPostgresWork(
  client: pg.PoolClient,
  schema: string,
  writes: readonly Write[],
  outcomes: readonly (Outcome | undefined)[],
  limit: number,
  now: number,
): Promise<Map<number, Outcome>> {
  // Work belongs to the shard of the write's fence (shard 0 without one).
  const ok = writes.flatMap((w, i) =>
    outcomes[i]?.kind === "ok" ? [[i, workOf(w), fenceOf(w)?.shard ?? 0] as const] : [],
  );
  const timers = ok.flatMap(([, work, shard]) => (work.timers ?? []).map((t) => ({ ...t, shard })));
  const over = new Map<number, Outcome>();
  if (timers.some((t) => t.kind === "schedule")) {
    const index = await readTimerIndex(client, schema, timers);
    for (const [i, work] of ok) {
      const v = timerLimitViolation(work.timers, index, limit);
      if (v) over.set(i, { kind: "timerLimit", ...v, limit });
      else index.apply(work.timers ?? []);
    }
    if (over.size > 0) return over;
  }
  await insertOutbox(
    client,
    schema,
    ok.flatMap(([, work, shard]) => (work.outbox ?? []).map((call) => ({ call, shard }))),
    now,
  );
  await applyTimers(client, schema, timers);
  return over;
}

/** What the batch needs of the stored timers: counts of the owners it schedules for, and which of its names exist. */
class PrefetchedTimers implements TimerIndex {
  readonly counts = new Map<string, number>();
  readonly present = new Set<string>();

  count(owner: string): number {
    return this.counts.get(owner) ?? 0;
  }

  has(owner: string, name: string): boolean {
    return this.present.has(timerKey(owner, name));
  }

  /** Follows an accepted write's changes, so later writes of the batch are checked against them. */
  apply(changes: readonly TimerChange[]): void {
    for (const c of changes) {
      const key = timerKey(c.owner, c.name);
      const had = this.present.has(key);
      if (c.kind === "schedule" && !had) {
        this.present.add(key);
        this.counts.set(c.owner, this.count(c.owner) + 1);
      } else if (c.kind === "cancel" && had) {
        this.present.delete(key);
        this.counts.set(c.owner, this.count(c.owner) - 1);
      }
    }
  }
}

/**
 * One query for the whole batch. Per owner, correlated lookups on the
 * (owner, name) unique index: a join against the unnest of the batch's keys
 * was planned as a sequential scan of the table, whose cost grows with every
 * timer stored.
 */
async function readTimerIndex(
  client: pg.PoolClient,
  schema: string,
  timers: readonly TimerChange[],
): Promise<PrefetchedTimers> {
  const index = new PrefetchedTimers();
  const { rows } = await client.query<{ owner: string; n: number; found: string[] }>(
    `SELECT k.owner,
       (SELECT COUNT(*)::int FROM ${schema}.cairn_timers t WHERE t.owner = k.owner) AS n,
       ARRAY(SELECT t.name FROM ${schema}.cairn_timers t
             WHERE t.owner = k.owner AND t.name = ANY(k.names)) AS found
     FROM (SELECT u.owner, array_agg(u.name) AS names
           FROM unnest($1::text[], $2::text[]) AS u(owner, name) GROUP BY u.owner) k`,
    [timers.map((t) => t.owner), timers.map((t) => t.name)],
  );
  for (const r of rows) {
    index.counts.set(r.owner, r.n);
    for (const name of r.found) index.present.add(timerKey(r.owner, name));
  }
  return index;
}

/** A timer change with the shard of the write that carries it. */
type ShardedChange = TimerChange & { readonly shard: number };

async function insertOutbox(
  client: pg.PoolClient,
  schema: string,
  entries: readonly { readonly call: StoredCall; readonly shard: number }[],
  now: number,
): Promise<void> {
  if (entries.length === 0) return;
  const calls = entries.map((e) => e.call);
  // ORDER BY ordinality: ids follow batch order, so loadOutbox returns entries in commit order.
  await client.query(
    `INSERT INTO ${schema}.cairn_outbox (service, method, type_url, payload, metadata, attempts, not_before, created_at, shard)
     SELECT t.service, t.method, t.type_url, t.payload, t.metadata, 0, 0, $6, t.shard
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[], $7::int[])
       WITH ORDINALITY AS t(service, method, type_url, payload, metadata, shard, n)
     ORDER BY t.n`,
    [
      calls.map((c) => c.service),
      calls.map((c) => c.method),
      calls.map((c) => c.payload.typeUrl),
      calls.map((c) => toBuffer(c.payload.value)),
      calls.map((c) => JSON.stringify(c.metadata)),
      now,
      entries.map((e) => e.shard),
    ],
  );
}

/**
 * Applies the net change per (owner, name): cancels delete, schedules
 * upsert. `generation = DEFAULT` draws a new identity value on replace, so a
 * firing of the previous schedule no longer matches.
 */
async function applyTimers(
  client: pg.PoolClient,
  schema: string,
  timers: readonly ShardedChange[],
): Promise<void> {
  if (timers.length === 0) return;
  const net = [...netTimerChanges(timers).values()];
  const cancels = net.filter((t) => t.kind === "cancel");
  if (cancels.length > 0) {
    await client.query(
      `DELETE FROM ${schema}.cairn_timers t USING unnest($1::text[], $2::text[]) AS k(owner, name)
       WHERE t.owner = k.owner AND t.name = k.name`,
      [cancels.map((t) => t.owner), cancels.map((t) => t.name)],
    );
  }
  const s = net.flatMap((t) => (t.kind === "schedule" ? [t] : []));
  if (s.length === 0) return;
  await client.query(
    `INSERT INTO ${schema}.cairn_timers (owner, name, due_at, attempts, service, method, type_url, payload, metadata, shard)
     SELECT t.owner, t.name, t.due_at, 0, t.service, t.method, t.type_url, t.payload, t.metadata, t.shard
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[], $9::int[])
       WITH ORDINALITY AS t(owner, name, due_at, service, method, type_url, payload, metadata, shard, n)
     ORDER BY t.n
     ON CONFLICT ON CONSTRAINT cairn_timers_owner_name DO UPDATE SET generation = DEFAULT,
       due_at = excluded.due_at, attempts = 0, parked = NULL, service = excluded.service,
       method = excluded.method, type_url = excluded.type_url, payload = excluded.payload,
       metadata = excluded.metadata, shard = excluded.shard`,
    [
      s.map((t) => t.owner),
      s.map((t) => t.name),
      s.map((t) => t.dueAt),
      s.map((t) => t.call.service),
      s.map((t) => t.call.method),
      s.map((t) => t.call.payload.typeUrl),
      s.map((t) => toBuffer(t.call.payload.value)),
      s.map((t) => JSON.stringify(t.call.metadata)),
      s.map((t) => t.shard),
    ],
  );
}

/** Applies an operation inside the batch transaction; the generation guard is in each timer statement's WHERE. */
export async function applyPostgresOp(
  client: pg.PoolClient,
  schema: string,
  op: WorkOp,
): Promise<Outcome> {
  const firing = `owner = $1 AND name = $2 AND generation = $3`;
  switch (op.kind) {
    case "expireIdempotency":
      return {
        kind: "ok",
        value: await expirePostgresIdempotency(client, schema, op.before, op.limit),
      };
    case "completeOutbox":
      await client.query(`DELETE FROM ${schema}.cairn_outbox WHERE id = $1`, [op.id]);
      break;
    case "retryOutbox":
      await client.query(
        `UPDATE ${schema}.cairn_outbox SET attempts = attempts + 1, not_before = $2 WHERE id = $1`,
        [op.id, op.notBefore],
      );
      break;
    case "completeTimer":
      await client.query(`DELETE FROM ${schema}.cairn_timers WHERE ${firing}`, [
        op.owner,
        op.name,
        op.generation,
      ]);
      break;
    case "retryTimer":
      await client.query(
        `UPDATE ${schema}.cairn_timers SET attempts = attempts + 1, due_at = $4 WHERE ${firing}`,
        [op.owner, op.name, op.generation, op.dueAt],
      );
      break;
    case "parkTimer":
      await client.query(`UPDATE ${schema}.cairn_timers SET parked = $4 WHERE ${firing}`, [
        op.owner,
        op.name,
        op.generation,
        op.reason,
      ]);
      break;
  }
  return { kind: "ok", value: 0 };
}
