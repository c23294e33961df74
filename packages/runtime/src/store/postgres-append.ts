/**
 * The append half of a PostgreSQL group commit. All events of a batch go in
 * one multi-row INSERT. The fast path is a plain INSERT (about half the cost
 * of ON CONFLICT ... RETURNING, measured in docs/decisions/0002); if it hits
 * the unique guard, the caller rolls back and runs the tolerant path:
 * INSERT ... ON CONFLICT DO NOTHING RETURNING, which skips taken rows instead
 * of aborting, so the stale append fails and its batch neighbours land. An
 * append that got only some of its rows (possible only with gaps) has them
 * deleted again and is reported as a conflict: all or none.
 */
import type pg from "pg";
import type { Outcome, Write } from "./group-commit.js";
import type { AppendRequest } from "./types.js";

/** Bytes as a Buffer without copying; pg encodes Buffers (also inside arrays) as bytea. */
export function toBuffer(v: Uint8Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

function keyOf(type: string, id: string, sequence: number): string {
  return `${type}\u0000${id}\u0000${sequence}`;
}

interface Columns {
  types: string[];
  ids: string[];
  sequences: number[];
  typeUrls: string[];
  payloads: Buffer[];
}

/**
 * Inserts the events (and snapshots) of the batch's appends inside the open
 * transaction of `client`; returns the outcomes at the appends' indexes.
 */
export async function commitPostgresAppends(
  client: pg.PoolClient,
  schema: string,
  writes: readonly Write[],
  now: number,
  tolerant: boolean,
): Promise<(Outcome | undefined)[]> {
  const outcomes = new Array<Outcome | undefined>(writes.length);
  const cols: Columns = { types: [], ids: [], sequences: [], typeUrls: [], payloads: [] };
  const claimed = new Set<string>();
  /** Highest sequence claimed so far in the batch, per entity. */
  const highest = new Map<string, number>();
  const empty: [number, AppendRequest][] = [];
  const appends: [number, AppendRequest][] = [];
  for (const [i, w] of writes.entries()) {
    if (w.kind !== "append") continue;
    const r = w.request;
    const entity = keyOf(r.entityType, r.entityId, 0);
    if (r.events.length === 0) {
      // Work only: stale if an earlier append of the batch claimed a later
      // sequence (conservatively, even if that one fails); the journal is checked below.
      if ((highest.get(entity) ?? 0) > r.expectedSequence) outcomes[i] = { kind: "conflict" };
      else empty.push([i, r]);
      continue;
    }
    const keys = r.events.map((_, k) =>
      keyOf(r.entityType, r.entityId, r.expectedSequence + k + 1),
    );
    // Two appends of the batch claiming one sequence: the first in order wins,
    // decided here so that every row of the INSERT belongs to exactly one append.
    if (keys.some((k) => claimed.has(k))) {
      outcomes[i] = { kind: "conflict" };
      continue;
    }
    keys.forEach((k) => claimed.add(k));
    highest.set(entity, Math.max(highest.get(entity) ?? 0, r.expectedSequence + r.events.length));
    appends.push([i, r]);
    r.events.forEach((e, k) => {
      cols.types.push(r.entityType);
      cols.ids.push(r.entityId);
      cols.sequences.push(r.expectedSequence + k + 1);
      cols.typeUrls.push(e.typeUrl);
      cols.payloads.push(toBuffer(e.value));
    });
  }
  // Checked before the INSERT, so a later append of this batch does not count against an earlier empty one.
  const stale = await staleEmptyAppends(client, schema, empty);
  for (const [i, r] of empty) {
    outcomes[i] = stale.has(i) ? { kind: "conflict" } : { kind: "ok", value: r.expectedSequence };
  }
  const inserted =
    cols.types.length === 0
      ? new Set<string>()
      : await insertEvents(client, schema, cols, now, tolerant);
  const partial: Columns = { types: [], ids: [], sequences: [], typeUrls: [], payloads: [] };
  for (const [i, r] of appends) {
    const got = r.events.filter((_, k) =>
      inserted.has(keyOf(r.entityType, r.entityId, r.expectedSequence + k + 1)),
    );
    if (got.length === r.events.length) {
      outcomes[i] = { kind: "ok", value: r.expectedSequence + r.events.length };
      continue;
    }
    outcomes[i] = { kind: "conflict" };
    r.events.forEach((_, k) => {
      const seq = r.expectedSequence + k + 1;
      if (!inserted.has(keyOf(r.entityType, r.entityId, seq))) return;
      partial.types.push(r.entityType);
      partial.ids.push(r.entityId);
      partial.sequences.push(seq);
    });
  }
  if (partial.types.length > 0) await deleteEvents(client, schema, partial);
  await upsertSnapshots(client, schema, writes, outcomes);
  return outcomes;
}

/** Inserts the rows; returns the keys inserted (all of them on the fast path, which throws on a taken one). */
async function insertEvents(
  client: pg.PoolClient,
  schema: string,
  c: Columns,
  now: number,
  tolerant: boolean,
): Promise<Set<string>> {
  // ORDER BY ordinality: identity offsets follow batch order, so an entity's
  // offsets increase with its sequences.
  const insert = `INSERT INTO ${schema}.cairn_journal (entity_type, entity_id, sequence, type_url, payload, created_at)
     SELECT t.entity_type, t.entity_id, t.sequence, t.type_url, t.payload, $6
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[])
       WITH ORDINALITY AS t(entity_type, entity_id, sequence, type_url, payload, n)
     ORDER BY t.n`;
  const params = [c.types, c.ids, c.sequences, c.typeUrls, c.payloads, now];
  if (!tolerant) {
    await client.query(insert, params);
    return new Set(c.types.map((t, i) => keyOf(t, c.ids[i]!, c.sequences[i]!)));
  }
  const { rows } = await client.query<{ entity_type: string; entity_id: string; sequence: string }>(
    `${insert}
     ON CONFLICT ON CONSTRAINT cairn_journal_entity_sequence DO NOTHING
     RETURNING entity_type, entity_id, sequence`,
    params,
  );
  return new Set(rows.map((r) => keyOf(r.entity_type, r.entity_id, Number(r.sequence))));
}

/**
 * The appends without events (work only) whose entity already has an event
 * after their expected sequence. A plain read: another node committing to the
 * same entity at this moment is not seen, which shard ownership rules out.
 */
async function staleEmptyAppends(
  client: pg.PoolClient,
  schema: string,
  empty: readonly [number, AppendRequest][],
): Promise<Set<number>> {
  if (empty.length === 0) return new Set();
  const { rows } = await client.query<{ n: string }>(
    `SELECT t.n FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS t(entity_type, entity_id, expected, n)
     WHERE EXISTS (SELECT 1 FROM ${schema}.cairn_journal j WHERE j.entity_type = t.entity_type
       AND j.entity_id = t.entity_id AND j.sequence > t.expected)`,
    [
      empty.map(([, r]) => r.entityType),
      empty.map(([, r]) => r.entityId),
      empty.map(([, r]) => r.expectedSequence),
    ],
  );
  // Ordinality is 1-based.
  return new Set(rows.map((r) => empty[Number(r.n) - 1]![0]));
}

/** True for PostgreSQL's unique_violation, which the fast path turns into a tolerant retry. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "23505";
}

async function deleteEvents(client: pg.PoolClient, schema: string, c: Columns): Promise<void> {
  await client.query(
    `DELETE FROM ${schema}.cairn_journal WHERE (entity_type, entity_id, sequence) IN
     (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]))`,
    [c.types, c.ids, c.sequences],
  );
}

/** Upserts the snapshots of successful appends; the newest per entity, since one statement may touch a row once. */
async function upsertSnapshots(
  client: pg.PoolClient,
  schema: string,
  writes: readonly Write[],
  outcomes: readonly (Outcome | undefined)[],
): Promise<void> {
  const newest = new Map<string, { r: AppendRequest; sequence: number }>();
  writes.forEach((w, i) => {
    const o = outcomes[i];
    if (w.kind !== "append" || w.request.snapshot === undefined || o?.kind !== "ok") return;
    const key = `${w.request.entityType}\u0000${w.request.entityId}`;
    const seen = newest.get(key);
    if (seen === undefined || seen.sequence < o.value)
      newest.set(key, { r: w.request, sequence: o.value });
  });
  if (newest.size === 0) return;
  const c: Columns = { types: [], ids: [], sequences: [], typeUrls: [], payloads: [] };
  for (const { r, sequence } of newest.values()) {
    c.types.push(r.entityType);
    c.ids.push(r.entityId);
    c.sequences.push(sequence);
    c.typeUrls.push(r.snapshot!.typeUrl);
    c.payloads.push(toBuffer(r.snapshot!.value));
  }
  await client.query(
    `INSERT INTO ${schema}.cairn_snapshots AS cur (entity_type, entity_id, sequence, type_url, state)
     SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bytea[])
     ON CONFLICT (entity_type, entity_id) DO UPDATE SET sequence = excluded.sequence,
       type_url = excluded.type_url, state = excluded.state WHERE excluded.sequence >= cur.sequence`,
    [c.types, c.ids, c.sequences, c.typeUrls, c.payloads],
  );
}
