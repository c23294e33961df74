/**
 * The idempotency records of the SQLite store. The write half runs on the
 * writer connection inside the batch transaction of the write that carries
 * the records; the read half on the store's read-only connection.
 */
import type Database from "better-sqlite3";
import { recordFromRow } from "./idempotency.js";
import type { IdempotencyRecord, IdempotencyRow, IdempotencyWrite } from "./idempotency.js";
import type { EntityRef } from "./types.js";

/** Writes records on the writer connection; the caller holds the batch transaction. */
export class SqliteIdempotencyWriter {
  private readonly stmts;

  constructor(
    db: Database.Database,
    private readonly maxKeysPerEntity: number,
  ) {
    this.stmts = {
      // The first record of a key stands: a second one would mean a command ran twice.
      insert: db.prepare(
        `INSERT INTO cairn_idempotency (entity_type, entity_id, idempotency_key, request_hash, type_url, outcome, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (entity_type, entity_id, idempotency_key) DO NOTHING`,
      ),
      // Everything at or below the id of the (bound+1)-th newest record of the instance.
      evict: db.prepare(
        `DELETE FROM cairn_idempotency WHERE entity_type = ? AND entity_id = ? AND id <= (
           SELECT id FROM cairn_idempotency WHERE entity_type = ? AND entity_id = ?
           ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      ),
      expire: db.prepare(
        `DELETE FROM cairn_idempotency WHERE id IN (
           SELECT id FROM cairn_idempotency WHERE created_at < ? ORDER BY created_at, id LIMIT ?)`,
      ),
    };
  }

  /** Stores the records, then trims each instance they touched to the bound. */
  apply(records: readonly IdempotencyWrite[] | undefined, now: number): void {
    if (records === undefined || records.length === 0) return;
    const touched = new Map<string, EntityRef>();
    for (const r of records) {
      this.stmts.insert.run(
        r.entityType,
        r.entityId,
        r.key,
        r.requestHash,
        r.outcome.typeUrl,
        Buffer.from(r.outcome.value.buffer, r.outcome.value.byteOffset, r.outcome.value.byteLength),
        now,
      );
      touched.set(`${r.entityType}\u0000${r.entityId}`, r);
    }
    for (const ref of touched.values()) {
      const id = [ref.entityType, ref.entityId];
      this.stmts.evict.run(...id, ...id, this.maxKeysPerEntity);
    }
  }

  /** Removes up to `limit` records created before `before`; returns the count. */
  expire(before: number, limit: number): number {
    return this.stmts.expire.run(before, limit).changes;
  }
}

/** Reads records on the read-only connection. */
export class SqliteIdempotencyReader {
  private readonly load;

  constructor(db: Database.Database) {
    this.load = db.prepare(
      `SELECT request_hash, type_url, outcome, created_at FROM cairn_idempotency
       WHERE entity_type = ? AND entity_id = ? AND idempotency_key = ?`,
    );
  }

  loadIdempotency(ref: EntityRef, key: string): IdempotencyRecord | undefined {
    const row = this.load.get(ref.entityType, ref.entityId, key) as IdempotencyRow | undefined;
    return row && recordFromRow(ref, key, row);
  }
}
