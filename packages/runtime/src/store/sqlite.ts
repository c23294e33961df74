/**
 * The SQLite store: the embedded default, one file (WAL, synchronous=FULL).
 * Writes go through group commit to one write connection, which lives either
 * on the main thread or in a worker thread (see docs/decisions/0002); reads
 * use a second, read-only connection on the main thread, which WAL allows
 * alongside the writer.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { CairnError, Code } from "@cairn/protocol";
import type Database from "better-sqlite3";
import type { OutboxEntry, TimerEntry } from "./durable-work.js";
import { GroupCommitter } from "./group-commit.js";
import type { CommitBatch, Outcome, Write } from "./group-commit.js";
import { SqliteWorkReader } from "./sqlite-work.js";
import { openSqlite, SqliteWriter } from "./sqlite-writer.js";
import type { SqliteWorkerData, SqliteWorkerRequest } from "./sqlite-worker.js";
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
import { SqliteIdempotencyReader } from "./sqlite-idempotency.js";
import { DEFAULT_MAX_TIMERS_PER_OWNER } from "./work-plan.js";
import { DurableWorkWrites } from "./work-writes.js";

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions extends StoreOptions {
  /**
   * Where the write connection runs: "worker" (default) commits, fsync
   * included, in a worker thread so the event loop keeps serving; "main"
   * commits on the calling thread. See docs/decisions/0002-store-group-commit.md.
   */
  readonly writer?: "main" | "worker";
}

/**
 * Opens (creating if needed, parent directories included) a SQLite store and
 * applies pending migrations.
 *
 * @example
 * ```ts
 * const store = await createSqliteStore(".cairn/cairn.db");
 * ```
 */
export async function createSqliteStore(
  path: string,
  options: SqliteStoreOptions = {},
): Promise<Store> {
  const file = resolve(path);
  if (options.cluster !== undefined) {
    throw new CairnError(
      Code.FailedPrecondition,
      `cluster mode needs a PostgreSQL store (postgres://user@host:5432/db); the SQLite store ${file} is single-node, since nodes cannot share its file or its leases`,
    );
  }
  const limit = options.maxTimersPerOwner ?? DEFAULT_MAX_TIMERS_PER_OWNER;
  const keys = options.maxIdempotencyKeysPerEntity ?? DEFAULT_MAX_IDEMPOTENCY_KEYS_PER_ENTITY;
  let writer: SqliteWriter | WorkerWriter;
  try {
    writer =
      options.writer === "main"
        ? new SqliteWriter(file, limit, keys)
        : await WorkerWriter.start({
            path: file,
            maxTimersPerOwner: limit,
            maxIdempotencyKeysPerEntity: keys,
          });
  } catch (err) {
    throw new CairnError(
      Code.Unavailable,
      `cannot open sqlite store ${file}: ${(err as Error).message}; check that the path is a writable file (or where one can be created)`,
      { cause: err },
    );
  }
  const commit: CommitBatch = (writes) => writer.commit(writes);
  const committer = new GroupCommitter(commit, { store: "sqlite", ...options });
  let reader: Database.Database;
  try {
    reader = openSqlite(file, true);
  } catch (err) {
    await writer.close();
    throw err;
  }
  return new SqliteStore(file, reader, committer, () => writer.close());
}

interface Row {
  sequence: number;
  type_url: string;
  payload: Buffer;
  global_offset: number;
  created_at: number;
}

class SqliteStore extends DurableWorkWrites implements Store {
  readonly kind = "sqlite";
  readonly description: string;
  private readonly stmts;
  private readonly work: SqliteWorkReader;
  private readonly idempotency: SqliteIdempotencyReader;

  constructor(
    path: string,
    private readonly reader: Database.Database,
    protected readonly committer: GroupCommitter,
    private readonly closeWriter: () => void | Promise<void>,
  ) {
    super();
    this.description = `sqlite:${path}`;
    this.work = new SqliteWorkReader(reader);
    this.idempotency = new SqliteIdempotencyReader(reader);
    this.stmts = {
      snapshot: reader.prepare(
        `SELECT sequence, type_url, state FROM cairn_snapshots WHERE entity_type = ? AND entity_id = ?`,
      ),
      events: reader.prepare(
        `SELECT sequence, type_url, payload, global_offset, created_at FROM cairn_journal
         WHERE entity_type = ? AND entity_id = ? AND sequence > ? ORDER BY sequence`,
      ),
      last: reader
        .prepare(`SELECT MAX(sequence) FROM cairn_journal WHERE entity_type = ? AND entity_id = ?`)
        .pluck(),
      value: reader.prepare(
        `SELECT version, type_url, state FROM cairn_values WHERE entity_type = ? AND entity_id = ?`,
      ),
      journal: reader.prepare(
        `SELECT entity_type, entity_id, sequence, type_url, payload, global_offset, created_at
         FROM cairn_journal WHERE global_offset > ? ORDER BY global_offset LIMIT ?`,
      ),
    };
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    return { sequence: await this.committer.submit({ kind: "append", request }) };
  }

  loadSnapshot(ref: EntityRef): Promise<Snapshot | undefined> {
    const row = this.stmts.snapshot.get(ref.entityType, ref.entityId) as
      { sequence: number; type_url: string; state: Buffer } | undefined;
    return Promise.resolve(
      row && { sequence: row.sequence, state: { typeUrl: row.type_url, value: bytes(row.state) } },
    );
  }

  loadEvents(ref: EntityRef, afterSequence: number): Promise<JournalEvent[]> {
    const rows = this.stmts.events.all(ref.entityType, ref.entityId, afterSequence) as Row[];
    return Promise.resolve(rows.map(toEvent));
  }

  lastSequence(ref: EntityRef): Promise<number> {
    return Promise.resolve(
      (this.stmts.last.get(ref.entityType, ref.entityId) as number | null) ?? 0,
    );
  }

  loadValue(ref: EntityRef): Promise<ValueState | undefined> {
    const row = this.stmts.value.get(ref.entityType, ref.entityId) as
      { version: number; type_url: string; state: Buffer } | undefined;
    return Promise.resolve(
      row && { version: row.version, state: { typeUrl: row.type_url, value: bytes(row.state) } },
    );
  }

  saveValue(request: SaveValueRequest): Promise<number> {
    return this.committer.submit({ kind: "value", request });
  }

  readJournal(afterOffset: number, limit: number): Promise<JournalEntry[]> {
    const rows = this.stmts.journal.all(afterOffset, limit) as (Row & {
      entity_type: string;
      entity_id: string;
    })[];
    return Promise.resolve(
      rows.map((r) => ({ entityType: r.entity_type, entityId: r.entity_id, ...toEvent(r) })),
    );
  }

  loadOutbox(now: number, limit: number, shards?: readonly number[]): Promise<OutboxEntry[]> {
    return Promise.resolve(this.work.loadOutbox(now, limit, shards));
  }

  loadDueTimers(now: number, limit: number, shards?: readonly number[]): Promise<TimerEntry[]> {
    return Promise.resolve(this.work.loadDueTimers(now, limit, shards));
  }

  nextTimerDue(shards?: readonly number[]): Promise<number | undefined> {
    return Promise.resolve(this.work.nextTimerDue(shards));
  }

  listTimers(owner: string): Promise<TimerEntry[]> {
    return Promise.resolve(this.work.listTimers(owner));
  }

  loadIdempotency(ref: EntityRef, key: string): Promise<IdempotencyRecord | undefined> {
    return Promise.resolve(this.idempotency.loadIdempotency(ref, key));
  }

  async close(): Promise<void> {
    await this.committer.close();
    this.reader.close();
    await this.closeWriter();
  }
}

function toEvent(r: Row): JournalEvent {
  return {
    sequence: r.sequence,
    payload: { typeUrl: r.type_url, value: bytes(r.payload) },
    offset: r.global_offset,
    timestamp: r.created_at,
  };
}

/** A plain Uint8Array view, so callers comparing payloads never trip on Buffer. */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** The write connection in a worker thread, driven by messages. */
class WorkerWriter {
  private nextId = 1;
  private dead: string | undefined;
  private readonly waiting = new Map<
    number,
    (r: { outcomes?: Outcome[]; error?: string }) => void
  >();

  private constructor(private readonly worker: Worker) {
    worker.on("message", (msg: { id: number; outcomes?: Outcome[]; error?: string }) => {
      this.waiting.get(msg.id)?.(msg);
      this.waiting.delete(msg.id);
    });
    // A dead writer must fail the commits waiting on it, or their callers hang.
    const fail = (why: string) => {
      for (const done of this.waiting.values()) done({ error: why });
      this.waiting.clear();
      this.dead = why;
    };
    worker.on("error", (err) => fail(`sqlite worker crashed: ${err.message}`));
    worker.on("exit", (code) => fail(`sqlite worker exited with code ${code}`));
  }

  /** Starts the worker and waits until it has opened and migrated the file. */
  static async start(data: SqliteWorkerData): Promise<WorkerWriter> {
    const worker = startWorker(data);
    try {
      await ready(worker);
    } catch (err) {
      // A worker that failed to open would otherwise idle forever and keep the process alive.
      await worker.terminate();
      throw err;
    }
    return new WorkerWriter(worker);
  }

  commit(writes: readonly Write[]): Promise<Outcome[]> {
    if (this.dead !== undefined) return Promise.reject(new Error(this.dead));
    const id = this.nextId++;
    return new Promise((resolveCommit, reject) => {
      this.waiting.set(id, (r) =>
        r.outcomes
          ? resolveCommit(r.outcomes)
          : reject(new Error(r.error ?? "sqlite worker failed")),
      );
      const request: SqliteWorkerRequest = { id, writes };
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((r) => this.worker.once("exit", () => r()));
    const request: SqliteWorkerRequest = { close: true };
    this.worker.postMessage(request);
    await exited;
  }
}

/** Resolves when the worker reports the file open and migrated; rejects on failure or exit. */
function ready(worker: Worker): Promise<void> {
  return new Promise<void>((resolveReady, reject) => {
    const onError = (err: Error) => settle(err);
    const onExit = (code: number) =>
      settle(new Error(`the writer worker exited with code ${code}`));
    const onMessage = (msg: { ready?: true; failed?: string }) =>
      settle(msg.ready ? undefined : new Error(msg.failed ?? "the writer worker failed to start"));
    // Only our own listeners are removed: Worker keeps internal ones that
    // start its message port when a "message" listener is added.
    const settle = (err: Error | undefined) => {
      worker.off("error", onError).off("exit", onExit).off("message", onMessage);
      if (err === undefined) resolveReady();
      else reject(err);
    };
    worker.on("error", onError).on("exit", onExit).on("message", onMessage);
  });
}

/**
 * Starts the compiled worker next to this module. Under vitest or tsx only
 * the `.ts` source exists; a small bootstrap then loads tsx's loader in the
 * worker before importing it (`--import tsx` in execArgv does
 * not apply to a worker's entry module on Node 20).
 */
function startWorker(workerData: SqliteWorkerData): Worker {
  const js = new URL("./sqlite-worker.js", import.meta.url);
  if (existsSync(fileURLToPath(js))) return new Worker(js, { workerData });
  const ts = new URL("./sqlite-worker.ts", import.meta.url);
  if (!existsSync(fileURLToPath(ts))) {
    throw new Error(
      `sqlite worker script not found next to ${import.meta.url}; rebuild @cairn/runtime`,
    );
  }
  // tsx's ESM API (the .mjs twin of what require.resolve finds) registers its
  // loader hooks in the calling thread; only then can the worker import .ts.
  const api = createRequire(import.meta.url)
    .resolve("tsx/esm/api")
    .replace(/\.cjs$/, ".mjs");
  const bootstrap = `import(${JSON.stringify(pathToFileURL(api).href)})
  .then((tsx) => { tsx.register(); return import(${JSON.stringify(ts.href)}); })
  .catch((err) => setImmediate(() => { throw err; }));`;
  return new Worker(bootstrap, { eval: true, workerData });
}
