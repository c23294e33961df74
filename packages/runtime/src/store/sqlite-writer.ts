/**
 * The SQLite write side: one connection that owns every write of a store,
 * used on the main thread or inside a worker (see sqlite-worker.ts). It opens
 * the file with the durability pragmas, applies migrations and commits group
 * batches, one transaction each.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { Outcome, Write } from "./group-commit.js";
import { pendingMigrations } from "./migrations.js";
import { SqliteWorkWriter } from "./sqlite-work.js";
import type { AppendRequest, SaveValueRequest, StoredPayload } from "./types.js";

/** How long a connection waits for another process's lock before failing. */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** Opens a connection with the pragmas every Cairn connection uses. */
export function openSqlite(path: string, readonly = false): Database.Database {
  if (!readonly) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { readonly, timeout: SQLITE_BUSY_TIMEOUT_MS });
  if (!readonly) db.pragma("journal_mode = WAL");
  // FULL: in WAL mode the log is synced at every commit, so an acknowledged
  // write survives power loss (NORMAL would only survive a process crash).
  db.pragma("synchronous = FULL");
  return db;
}

/** Applies missing migrations in one IMMEDIATE transaction, so two processes opening at once serialise. */
export function migrateSqlite(db: Database.Database, path: string): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS cairn_schema_migrations (
      version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
    const applied = db
      .prepare("SELECT version FROM cairn_schema_migrations")
      .pluck()
      .all() as number[];
    const record = db.prepare(
      "INSERT INTO cairn_schema_migrations (version, description, applied_at) VALUES (?, ?, ?)",
    );
    for (const m of pendingMigrations(applied, path)) {
      for (const sql of m.sqlite) db.exec(sql);
      record.run(m.version, m.description, Date.now());
    }
    db.exec("COMMIT");
  } catch (err) {
    db.exec("ROLLBACK");
    throw err;
  }
}

/** Binds a payload's bytes without copying (better-sqlite3 binds Buffers, not Uint8Arrays). */
export function blob(p: StoredPayload): Buffer {
  return Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength);
}

/** Owns the write connection of one SQLite store. */
export class SqliteWriter {
  private readonly db: Database.Database;
  private readonly stmts;
  private readonly work: SqliteWorkWriter;

  /** Opens and migrates `path`; the limits are the store's timer and idempotency-record bounds. */
  constructor(path: string, maxTimersPerOwner: number, maxIdempotencyKeysPerEntity: number) {
    this.db = openSqlite(path);
    migrateSqlite(this.db, path);
    const db = this.db;
    this.work = new SqliteWorkWriter(db, maxTimersPerOwner, maxIdempotencyKeysPerEntity);
    this.stmts = {
      taken: db.prepare(
        `SELECT 1 FROM cairn_journal WHERE entity_type = ? AND entity_id = ? AND sequence > ? AND sequence <= ? LIMIT 1`,
      ),
      insert: db.prepare(
        `INSERT INTO cairn_journal (entity_type, entity_id, sequence, type_url, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      snapshot: db.prepare(
        `INSERT INTO cairn_snapshots (entity_type, entity_id, sequence, type_url, state) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (entity_type, entity_id) DO UPDATE SET sequence = excluded.sequence,
           type_url = excluded.type_url, state = excluded.state WHERE excluded.sequence >= cairn_snapshots.sequence`,
      ),
      version: db
        .prepare(`SELECT version FROM cairn_values WHERE entity_type = ? AND entity_id = ?`)
        .pluck(),
      upsertValue: db.prepare(
        `INSERT INTO cairn_values (entity_type, entity_id, version, type_url, state) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (entity_type, entity_id) DO UPDATE SET version = excluded.version,
           type_url = excluded.type_url, state = excluded.state`,
      ),
      deleteValue: db.prepare(`DELETE FROM cairn_values WHERE entity_type = ? AND entity_id = ?`),
    };
  }

  /** Commits a batch in one transaction; a conflicting write is skipped, the others land. */
  commit(writes: readonly Write[]): Outcome[] {
    const now = Date.now();
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const outcomes = writes.map((w) => this.apply(w, now));
      this.db.exec("COMMIT");
      return outcomes;
    } catch (err) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw err;
    }
  }

  /** Checkpoints the WAL and closes the file. */
  close(): void {
    this.db.close();
  }

  private apply(w: Write, now: number): Outcome {
    switch (w.kind) {
      case "append":
        return this.append(w.request, now);
      case "value":
        return this.saveValue(w.request, now);
      case "work":
        return this.work.write(w.work, now);
      case "op":
        return this.work.op(w.op);
    }
  }

  private append(r: AppendRequest, now: number): Outcome {
    const last = r.expectedSequence + r.events.length;
    // Without events (work only), any later event means the writer is stale.
    const upper = r.events.length === 0 ? Number.MAX_SAFE_INTEGER : last;
    // The writer connection holds the write lock for the whole batch, so this
    // check cannot race; the UNIQUE constraint stays as the last line of defence.
    if (this.stmts.taken.get(r.entityType, r.entityId, r.expectedSequence, upper) !== undefined) {
      return { kind: "conflict" };
    }
    const limited = this.work.check(r);
    if (limited) return limited;
    r.events.forEach((e, i) => {
      this.stmts.insert.run(
        r.entityType,
        r.entityId,
        r.expectedSequence + i + 1,
        e.typeUrl,
        blob(e),
        now,
      );
    });
    if (r.snapshot !== undefined) {
      this.stmts.snapshot.run(r.entityType, r.entityId, last, r.snapshot.typeUrl, blob(r.snapshot));
    }
    this.work.apply(r, now);
    return { kind: "ok", value: last };
  }

  private saveValue(r: SaveValueRequest, now: number): Outcome {
    const current = (this.stmts.version.get(r.entityType, r.entityId) as number | undefined) ?? 0;
    if (current !== r.expectedVersion) return { kind: "conflict" };
    const limited = this.work.check(r);
    if (limited) return limited;
    this.work.apply(r, now);
    if (r.state === undefined) {
      this.stmts.deleteValue.run(r.entityType, r.entityId);
      return { kind: "ok", value: 0 };
    }
    this.stmts.upsertValue.run(
      r.entityType,
      r.entityId,
      current + 1,
      r.state.typeUrl,
      blob(r.state),
    );
    return { kind: "ok", value: current + 1 };
  }
}
