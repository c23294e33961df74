/**
 * Versioned schema migrations, in code: an ordered list of steps, each with
 * the SQL of both dialects. A store applies the missing steps on open, inside
 * one transaction, and records each in `cairn_schema_migrations`. Never edit a
 * released step; append a new one.
 */

/** One schema step. `{schema}` in PostgreSQL SQL is replaced by the quoted schema name. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sqlite: readonly string[];
  readonly postgres: readonly string[];
}

/** Every migration, in order; versions are 1, 2, 3... */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "journal, snapshots, value states",
    sqlite: [
      // AUTOINCREMENT so an offset is never reused, even after the newest row is deleted:
      // subscribers store offsets and must never see a different row at one.
      `CREATE TABLE cairn_journal (
        global_offset INTEGER PRIMARY KEY AUTOINCREMENT,
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        type_url TEXT NOT NULL,
        payload BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (entity_type, entity_id, sequence)
      )`,
      `CREATE TABLE cairn_snapshots (
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        type_url TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (entity_type, entity_id)
      ) WITHOUT ROWID`,
      `CREATE TABLE cairn_values (
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        type_url TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (entity_type, entity_id)
      ) WITHOUT ROWID`,
    ],
    postgres: [
      `CREATE TABLE {schema}.cairn_journal (
        global_offset BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        type_url TEXT NOT NULL,
        payload BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        CONSTRAINT cairn_journal_entity_sequence UNIQUE (entity_type, entity_id, sequence)
      )`,
      `CREATE TABLE {schema}.cairn_snapshots (
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        sequence BIGINT NOT NULL,
        type_url TEXT NOT NULL,
        state BYTEA NOT NULL,
        PRIMARY KEY (entity_type, entity_id)
      )`,
      `CREATE TABLE {schema}.cairn_values (
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        type_url TEXT NOT NULL,
        state BYTEA NOT NULL,
        PRIMARY KEY (entity_type, entity_id)
      )`,
    ],
  },
  {
    version: 2,
    description: "outbox and timers",
    sqlite: [
      // AUTOINCREMENT on both: an outbox id or timer generation is never
      // reused, so a stale delivery or firing can never act on a newer row.
      `CREATE TABLE cairn_outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        service TEXT NOT NULL,
        method TEXT NOT NULL,
        type_url TEXT NOT NULL,
        payload BLOB NOT NULL,
        metadata TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        not_before INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      )`,
      // Rescheduling replaces the row (INSERT OR REPLACE), which assigns a new generation.
      `CREATE TABLE cairn_timers (
        generation INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        parked TEXT,
        service TEXT NOT NULL,
        method TEXT NOT NULL,
        type_url TEXT NOT NULL,
        payload BLOB NOT NULL,
        metadata TEXT NOT NULL,
        UNIQUE (owner, name)
      )`,
      `CREATE INDEX cairn_timers_due ON cairn_timers (due_at) WHERE parked IS NULL`,
    ],
    postgres: [
      `CREATE TABLE {schema}.cairn_outbox (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        service TEXT NOT NULL,
        method TEXT NOT NULL,
        type_url TEXT NOT NULL,
        payload BYTEA NOT NULL,
        metadata TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        not_before BIGINT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE {schema}.cairn_timers (
        generation BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL,
        parked TEXT,
        service TEXT NOT NULL,
        method TEXT NOT NULL,
        type_url TEXT NOT NULL,
        payload BYTEA NOT NULL,
        metadata TEXT NOT NULL,
        CONSTRAINT cairn_timers_owner_name UNIQUE (owner, name)
      )`,
      `CREATE INDEX cairn_timers_due ON {schema}.cairn_timers (due_at) WHERE parked IS NULL`,
    ],
  },
  {
    version: 3,
    description: "shards, leases and members (cluster mode)",
    // SQLite is single-node: only the shard columns, so every adapter's rows look alike (all shard 0).
    sqlite: [
      `ALTER TABLE cairn_outbox ADD COLUMN shard INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE cairn_timers ADD COLUMN shard INTEGER NOT NULL DEFAULT 0`,
    ],
    postgres: [
      // One row: the shard count, fixed at creation (entity ids hash into it, so changing it moves every entity).
      `CREATE TABLE {schema}.cairn_cluster (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        shard_count INTEGER NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      // One row per shard, created with cairn_cluster; owner NULL when free. Times are the database's clock.
      `CREATE TABLE {schema}.cairn_leases (
        shard INTEGER PRIMARY KEY,
        owner TEXT,
        epoch BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      `CREATE TABLE {schema}.cairn_members (
        node_id TEXT PRIMARY KEY,
        address TEXT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        joined_at BIGINT NOT NULL
      )`,
      // Rows from before cluster mode belong to shard 0: its owner delivers them.
      `ALTER TABLE {schema}.cairn_outbox ADD COLUMN shard INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE {schema}.cairn_timers ADD COLUMN shard INTEGER NOT NULL DEFAULT 0`,
      `CREATE INDEX cairn_outbox_shard ON {schema}.cairn_outbox (shard, id)`,
      `CREATE INDEX cairn_timers_shard_due ON {schema}.cairn_timers (shard, due_at) WHERE parked IS NULL`,
    ],
  },
  {
    version: 4,
    description: "idempotency records",
    sqlite: [
      // id orders an instance's records (the oldest beyond the bound go first)
      // and the store's (expiry, oldest first); AUTOINCREMENT, never reused.
      `CREATE TABLE cairn_idempotency (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        type_url TEXT NOT NULL,
        outcome BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (entity_type, entity_id, idempotency_key)
      )`,
      `CREATE INDEX cairn_idempotency_instance ON cairn_idempotency (entity_type, entity_id, id)`,
      `CREATE INDEX cairn_idempotency_created ON cairn_idempotency (created_at)`,
    ],
    postgres: [
      `CREATE TABLE {schema}.cairn_idempotency (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        entity_type TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        type_url TEXT NOT NULL,
        outcome BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        CONSTRAINT cairn_idempotency_instance_key UNIQUE (entity_type, entity_id, idempotency_key)
      )`,
      `CREATE INDEX cairn_idempotency_instance ON {schema}.cairn_idempotency (entity_type, entity_id, id)`,
      `CREATE INDEX cairn_idempotency_created ON {schema}.cairn_idempotency (created_at)`,
    ],
  },
];

/** The schema version this code expects. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The migrations a store at `applied` versions still needs; throws if the store is newer. */
export function pendingMigrations(applied: readonly number[], location: string): Migration[] {
  const newest = Math.max(0, ...applied);
  if (newest > SCHEMA_VERSION) {
    throw new Error(
      `store ${location} has schema version ${newest} but this Cairn knows up to ${SCHEMA_VERSION}; upgrade Cairn or use another store`,
    );
  }
  const done = new Set(applied);
  return MIGRATIONS.filter((m) => !done.has(m.version));
}
