/**
 * The idempotency records of the PostgreSQL store: the batch's records in
 * one INSERT inside its transaction, then one DELETE that trims every
 * instance they touched to the bound. Reads go to the pool.
 */
import type pg from "pg";
import type { Outcome, Write } from "./group-commit.js";
import { recordFromRow } from "./idempotency.js";
import type { IdempotencyRecord, IdempotencyRow } from "./idempotency.js";
import { toBuffer } from "./postgres-append.js";
import type { EntityRef } from "./types.js";

/** Stores the records of the batch's successful writes inside the open transaction of `client`. */
export async function commitPostgresIdempotency(
  client: pg.PoolClient,
  schema: string,
  writes: readonly Write[],
  outcomes: readonly (Outcome | undefined)[],
  maxKeysPerEntity: number,
  now: number,
): Promise<void> {
  const records = writes.flatMap((w, i) =>
    outcomes[i]?.kind === "ok" && w.kind !== "op"
      ? ((w.kind === "work" ? w.work : w.request).idempotency ?? [])
      : [],
  );
  if (records.length === 0) return;
  const t = `${schema}.cairn_idempotency`;
  // The first record of a key stands: a second one would mean a command ran twice.
  await client.query(
    `INSERT INTO ${t} (entity_type, entity_id, idempotency_key, request_hash, type_url, outcome, created_at)
     SELECT r.entity_type, r.entity_id, r.k, r.request_hash, r.type_url, r.outcome, $7
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[])
       WITH ORDINALITY AS r(entity_type, entity_id, k, request_hash, type_url, outcome, n)
     ORDER BY r.n
     ON CONFLICT ON CONSTRAINT cairn_idempotency_instance_key DO NOTHING`,
    [
      records.map((r) => r.entityType),
      records.map((r) => r.entityId),
      records.map((r) => r.key),
      records.map((r) => r.requestHash),
      records.map((r) => r.outcome.typeUrl),
      records.map((r) => toBuffer(r.outcome.value)),
      now,
    ],
  );
  const touched = new Map<string, EntityRef>();
  for (const r of records) touched.set(`${r.entityType}\u0000${r.entityId}`, r);
  const refs = [...touched.values()];
  // Per instance, everything at or below the id of its (bound+1)-th newest record.
  await client.query(
    `DELETE FROM ${t} d USING (
       SELECT k.entity_type, k.entity_id,
         (SELECT i.id FROM ${t} i WHERE i.entity_type = k.entity_type AND i.entity_id = k.entity_id
          ORDER BY i.id DESC OFFSET $3 LIMIT 1) AS cut
       FROM unnest($1::text[], $2::text[]) AS k(entity_type, entity_id)) c
     WHERE c.cut IS NOT NULL AND d.entity_type = c.entity_type AND d.entity_id = c.entity_id
       AND d.id <= c.cut`,
    [refs.map((r) => r.entityType), refs.map((r) => r.entityId), maxKeysPerEntity],
  );
}

/** Removes up to `limit` records created before `before` inside the batch transaction; returns the count. */
export async function expirePostgresIdempotency(
  client: pg.PoolClient,
  schema: string,
  before: number,
  limit: number,
): Promise<number> {
  const t = `${schema}.cairn_idempotency`;
  const { rowCount } = await client.query(
    `DELETE FROM ${t} WHERE id IN (
       SELECT id FROM ${t} WHERE created_at < $1 ORDER BY created_at, id LIMIT $2)`,
    [before, limit],
  );
  return rowCount ?? 0;
}

/** The record of `key` for `ref`, read on any pooled connection. */
export async function loadPostgresIdempotency(
  pool: pg.Pool,
  schema: string,
  ref: EntityRef,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const { rows } = await pool.query<IdempotencyRow>(
    `SELECT request_hash, type_url, outcome, created_at FROM ${schema}.cairn_idempotency
     WHERE entity_type = $1 AND entity_id = $2 AND idempotency_key = $3`,
    [ref.entityType, ref.entityId, key],
  );
  const row = rows[0];
  return row && recordFromRow(ref, key, row);
}
