/**
 * The PostgreSQL store: production and clusters. Writes go through group
 * commit; each batch is one transaction on one pooled connection, with every
 * append of the batch in one multi-row INSERT (unnest of column arrays, so
 * the statement has six parameters whatever the batch size); see
 * postgres-append.ts for how a conflict fails only its own append.
 */
import { CairnError, Code } from "@cairn/protocol";
import pg from "pg";
import type { OutboxEntry, TimerEntry } from "./durable-work.js";
import { GroupCommitter } from "./group-commit.js";
import type { Outcome, Write } from "./group-commit.js";
import { commitPostgresAppends, isUniqueViolation } from "./postgres-append.js";
import { pendingMigrations } from "./migrations.js";
import { fencedWrites, initPostgresCluster, PostgresCluster } from "./postgres-cluster.js";
import { savePostgresValue } from "./postgres-value.js";
import { applyPostgresOp, commitPostgresWork } from "./postgres-work.js";
import { PostgresWorkReader } from "./postgres-work-read.js";
import type {
  AppendRequest,
  AppendResult,
  EntityRef,
  JournalEntry,
  JournalEvent,
  SaveValueRequest,
  Snapshot,
  Store,
  StoreOptions,
  ValueState,
} from "./types.js";
import { DEFAULT_MAX_IDEMPOTENCY_KEYS_PER_ENTITY } from "./idempotency.js";
import type { IdempotencyRecord } from "./idempotency.js";
import { commitPostgresIdempotency, loadPostgresIdempotency } from "./postgres-idempotency.js";
import { DEFAULT_MAX_TIMERS_PER_OWNER } from "./work-plan.js";
import { DurableWorkWrites } from "./work-writes.js";

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions extends StoreOptions {
  /** Most pooled connections (default 10): one writes, the others serve reads. */
  readonly poolSize?: number;
}

/**
 * Connects to PostgreSQL, creates the schema if missing (`?schema=NAME` in the
 * URL, default `public`) and applies pending migrations under an advisory lock.
 *
 * @example
 * ```ts
 * const store = await createPostgresStore("postgres://cairn@db:5432/cairn?schema=shop");
 * ```
 */
export async function createPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<Store> {
  const parsed = parsePostgresUrl(url);
  if ("error" in parsed) throw new Error(parsed.error);
  const { connectionString, schema, description } = parsed.value;
  const pool = new pg.Pool({ connectionString, max: options.poolSize ?? 10 });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on("error", (err) =>
    options.logger?.warn({ err }, "postgres store: idle connection failed"),
  );
  let shardCount: number;
  try {
    shardCount = await migrate(pool, schema, description, options.cluster?.shards);
  } catch (err) {
    await pool.end();
    throw new CairnError(
      Code.Unavailable,
      `cannot open postgres store ${description}: ${(err as Error).message}; check the URL, that the server is up and that the user may create the schema`,
      { cause: err },
    );
  }
  return new PostgresStore(pool, schema, description, shardCount, options);
}

/** A parsed store URL: the URL for pg (without `schema`), the schema and a password-free description. */
export interface PostgresLocation {
  readonly connectionString: string;
  readonly schema: string;
  readonly description: string;
}

/** Parses `postgres://...` / `postgresql://...` with an optional `?schema=NAME`. */
export function parsePostgresUrl(url: string): { value: PostgresLocation } | { error: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return {
      error: `store location '${url}' is not a valid URL; use postgres://user@host:5432/db?schema=NAME`,
    };
  }
  const schema = u.searchParams.get("schema") ?? "public";
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
    return {
      error: `schema '${schema}' in store URL is not a plain identifier; use letters, digits and _ (at most 63)`,
    };
  }
  u.searchParams.delete("schema");
  const shown = new URL(u.toString());
  shown.password = "";
  if (schema !== "public") shown.searchParams.set("schema", schema);
  return { value: { connectionString: u.toString(), schema, description: shown.toString() } };
}

/** Applies pending migrations and sets up the shards; resolves to the schema's shard count. */
async function migrate(
  pool: pg.Pool,
  schema: string,
  location: string,
  shards: number | undefined,
): Promise<number> {
  const client = await pool.connect();
  const s = `"${schema}"`;
  try {
    await client.query("BEGIN");
    // Two processes opening the same store at once serialise here; the lock
    // is taken before CREATE SCHEMA, which is not safe to race by itself.
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`cairn_schema:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.cairn_schema_migrations (
      version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const applied = await client.query<{ version: number }>(
      `SELECT version FROM ${s}.cairn_schema_migrations`,
    );
    for (const m of pendingMigrations(
      applied.rows.map((r) => r.version),
      location,
    )) {
      for (const sql of m.postgres) await client.query(sql.replaceAll("{schema}", s));
      await client.query(
        `INSERT INTO ${s}.cairn_schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)`,
        [m.version, m.description, Date.now()],
      );
    }
    const shardCount = await initPostgresCluster(client, s, location, shards);
    await client.query("COMMIT");
    return shardCount;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

interface EventRow {
  sequence: string;
  type_url: string;
  payload: Buffer;
  global_offset: string;
  created_at: string;
}

class PostgresStore extends DurableWorkWrites implements Store {
  readonly kind = "postgres";
  private readonly s: string;
  protected readonly committer: GroupCommitter;
  private readonly work: PostgresWorkReader;
  private readonly limit: number;
  readonly cluster: PostgresCluster;
  private readonly maxKeys: number;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    readonly description: string,
    shardCount: number,
    options: StoreOptions,
  ) {
    super();
    this.s = `"${schema}"`;
    this.work = new PostgresWorkReader(pool, this.s);
    this.cluster = new PostgresCluster(pool, this.s, shardCount);
    this.limit = options.maxTimersPerOwner ?? DEFAULT_MAX_TIMERS_PER_OWNER;
    this.maxKeys = options.maxIdempotencyKeysPerEntity ?? DEFAULT_MAX_IDEMPOTENCY_KEYS_PER_ENTITY;
    this.committer = new GroupCommitter((w) => this.commit(w), {
      store: "postgres",
      ...options,
      fencing: true,
    });
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    return { sequence: await this.committer.submit({ kind: "append", request }) };
  }

  async loadSnapshot(ref: EntityRef): Promise<Snapshot | undefined> {
    const { rows } = await this.pool.query<{ sequence: string; type_url: string; state: Buffer }>(
      `SELECT sequence, type_url, state FROM ${this.s}.cairn_snapshots WHERE entity_type = $1 AND entity_id = $2`,
      [ref.entityType, ref.entityId],
    );
    const row = rows[0];
    return (
      row && {
        sequence: Number(row.sequence),
        state: { typeUrl: row.type_url, value: bytes(row.state) },
      }
    );
  }

  async loadEvents(ref: EntityRef, afterSequence: number): Promise<JournalEvent[]> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT sequence, type_url, payload, global_offset, created_at FROM ${this.s}.cairn_journal
       WHERE entity_type = $1 AND entity_id = $2 AND sequence > $3 ORDER BY sequence`,
      [ref.entityType, ref.entityId, afterSequence],
    );
    return rows.map(toEvent);
  }

  async lastSequence(ref: EntityRef): Promise<number> {
    const { rows } = await this.pool.query<{ last: string | null }>(
      `SELECT MAX(sequence) AS last FROM ${this.s}.cairn_journal WHERE entity_type = $1 AND entity_id = $2`,
      [ref.entityType, ref.entityId],
    );
    return Number(rows[0]?.last ?? 0);
  }

  async loadValue(ref: EntityRef): Promise<ValueState | undefined> {
    const { rows } = await this.pool.query<{ version: string; type_url: string; state: Buffer }>(
      `SELECT version, type_url, state FROM ${this.s}.cairn_values WHERE entity_type = $1 AND entity_id = $2`,
      [ref.entityType, ref.entityId],
    );
    const row = rows[0];
    return (
      row && {
        version: Number(row.version),
        state: { typeUrl: row.type_url, value: bytes(row.state) },
      }
    );
  }

  saveValue(request: SaveValueRequest): Promise<number> {
    return this.committer.submit({ kind: "value", request });
  }

  async readJournal(afterOffset: number, limit: number): Promise<JournalEntry[]> {
    const { rows } = await this.pool.query<EventRow & { entity_type: string; entity_id: string }>(
      `SELECT entity_type, entity_id, sequence, type_url, payload, global_offset, created_at
       FROM ${this.s}.cairn_journal WHERE global_offset > $1 ORDER BY global_offset LIMIT $2`,
      [afterOffset, limit],
    );
    return rows.map((r) => ({ entityType: r.entity_type, entityId: r.entity_id, ...toEvent(r) }));
  }

  loadOutbox(now: number, limit: number, shards?: readonly number[]): Promise<OutboxEntry[]> {
    return this.work.loadOutbox(now, limit, shards);
  }

  loadDueTimers(now: number, limit: number, shards?: readonly number[]): Promise<TimerEntry[]> {
    return this.work.loadDueTimers(now, limit, shards);
  }

  nextTimerDue(shards?: readonly number[]): Promise<number | undefined> {
    return this.work.nextTimerDue(shards);
  }

  listTimers(owner: string): Promise<TimerEntry[]> {
    return this.work.listTimers(owner);
  }

  loadIdempotency(ref: EntityRef, key: string): Promise<IdempotencyRecord | undefined> {
    return loadPostgresIdempotency(this.pool, this.s, ref, key);
  }

  async close(): Promise<void> {
    await this.committer.close();
    await this.pool.end();
  }

  /**
   * One batch, one transaction: the fence check (only if a write carries a
   * fence), all appends in one INSERT, value writes in order, then the
   * batch's durable work and operations. A fenced write, or one over the
   * timer limit, rolls the batch back and runs it again without that write,
   * so that it alone fails (rare, like conflicts: it needs a lost lease or an
   * owner at its limit).
   */
  private async commit(writes: readonly Write[]): Promise<Outcome[]> {
    const client = await this.pool.connect();
    let failure: Error | undefined;
    try {
      const now = Date.now();
      const excluded = new Map<number, Outcome>();
      for (;;) {
        const result = await this.attempt(client, writes, excluded, now);
        if (Array.isArray(result)) return result;
        for (const [i, o] of result) excluded.set(i, o);
      }
    } catch (err) {
      failure = err as Error;
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      // A failed connection is discarded rather than handed to the next batch.
      client.release(failure);
    }
  }

  /** Commits the writes not `excluded`, or rolls back and returns the fenced ones or the ones over the timer limit. */
  private async attempt(
    client: pg.PoolClient,
    writes: readonly Write[],
    excluded: ReadonlyMap<number, Outcome>,
    now: number,
  ): Promise<Outcome[] | Map<number, Outcome>> {
    const indexes = writes.flatMap((_, i) => (excluded.has(i) ? [] : [i]));
    const active = indexes.map((i) => writes[i]!);
    await client.query("BEGIN");
    const fenced = await fencedWrites(client, this.s, active);
    const outcomes = fenced.size > 0 ? fenced : await this.stateChanges(client, active, now);
    const over =
      outcomes instanceof Map
        ? outcomes
        : await commitPostgresWork(client, this.s, active, outcomes, this.limit, now);
    if (over.size > 0 || outcomes instanceof Map) {
      await client.query("ROLLBACK");
      return new Map([...over].map(([k, o]) => [indexes[k]!, o]));
    }
    await commitPostgresIdempotency(client, this.s, active, outcomes, this.maxKeys, now);
    for (const [k, w] of active.entries()) {
      if (w.kind === "op") outcomes[k] = await applyPostgresOp(client, this.s, w.op);
    }
    await client.query("COMMIT");
    const all = writes.map((_, i) => excluded.get(i));
    indexes.forEach((i, k) => (all[i] = outcomes[k]));
    return all as Outcome[];
  }

  /**
   * The appends and value writes of a batch, inside its open transaction;
   * work alone is always ok. If the tolerant redo finds a fence that failed
   * meanwhile, it returns the fenced writes instead (nothing written).
   */
  private async stateChanges(
    client: pg.PoolClient,
    writes: readonly Write[],
    now: number,
  ): Promise<(Outcome | undefined)[] | Map<number, Outcome>> {
    let outcomes: (Outcome | undefined)[];
    try {
      outcomes = await commitPostgresAppends(client, this.s, writes, now, false);
    } catch (err) {
      // A stale append hit the unique guard: redo the batch so that it
      // alone fails (conflicts are rare: they need two writers of one entity).
      if (!isUniqueViolation(err)) throw err;
      await client.query("ROLLBACK");
      await client.query("BEGIN");
      // The rollback released the lease rows: check the fences again in the new transaction.
      const fenced = await fencedWrites(client, this.s, writes);
      if (fenced.size > 0) return fenced;
      outcomes = await commitPostgresAppends(client, this.s, writes, now, true);
    }
    for (const [i, w] of writes.entries()) {
      if (w.kind === "value") outcomes[i] = await savePostgresValue(client, this.s, w.request);
      else if (w.kind === "work") outcomes[i] = { kind: "ok", value: 0 };
    }
    return outcomes;
  }
}

function toEvent(r: EventRow): JournalEvent {
  return {
    sequence: Number(r.sequence),
    payload: { typeUrl: r.type_url, value: bytes(r.payload) },
    offset: Number(r.global_offset),
    timestamp: Number(r.created_at),
  };
}

function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
