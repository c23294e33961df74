/**
 * The value-entity half of a PostgreSQL group commit: each value write is
 * one conditional statement in the batch transaction.
 */
import type pg from "pg";
import type { Outcome } from "./group-commit.js";
import { toBuffer } from "./postgres-append.js";
import type { SaveValueRequest } from "./types.js";

/**
 * One value write inside the batch transaction of `client`. Uses only
 * statements that cannot abort the transaction on conflict (ON CONFLICT DO
 * NOTHING, WHERE version = expected, checking the row count), so a stale
 * write fails alone and its batch neighbours commit.
 */
export async function savePostgresValue(
  client: pg.PoolClient,
  schema: string,
  r: SaveValueRequest,
): Promise<Outcome> {
  const key = [r.entityType, r.entityId];
  const t = `${schema}.cairn_values`;
  let changed: number | null;
  if (r.state === undefined && r.expectedVersion === 0) {
    const found = await client.query(
      `SELECT 1 FROM ${t} WHERE entity_type = $1 AND entity_id = $2`,
      key,
    );
    changed = found.rowCount === 0 ? 1 : 0;
  } else if (r.state === undefined) {
    changed = (
      await client.query(
        `DELETE FROM ${t} WHERE entity_type = $1 AND entity_id = $2 AND version = $3`,
        [...key, r.expectedVersion],
      )
    ).rowCount;
  } else if (r.expectedVersion === 0) {
    changed = (
      await client.query(
        `INSERT INTO ${t} (entity_type, entity_id, version, type_url, state) VALUES ($1, $2, 1, $3, $4) ON CONFLICT DO NOTHING`,
        [...key, r.state.typeUrl, toBuffer(r.state.value)],
      )
    ).rowCount;
  } else {
    changed = (
      await client.query(
        `UPDATE ${t} SET version = version + 1, type_url = $4, state = $5 WHERE entity_type = $1 AND entity_id = $2 AND version = $3`,
        [...key, r.expectedVersion, r.state.typeUrl, toBuffer(r.state.value)],
      )
    ).rowCount;
  }
  if (changed !== 1) return { kind: "conflict" };
  return { kind: "ok", value: r.state === undefined ? 0 : r.expectedVersion + 1 };
}
