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
