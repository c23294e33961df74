/**
 * The runtime's store. {@link createStore} opens an adapter from a location
 * string, as given by `--store` / `CAIRN_STORE`:
 *
 * - `memory`: in-process, lost on exit (tests);
 * - `sqlite:<path>` or a plain file path: SQLite, the embedded default
 *   (`.cairn/cairn.db`), parent directories created;
 * - `postgres://...` or `postgresql://...`, optionally `?schema=NAME`.
 *
 * Every adapter group-commits writes and passes one conformance suite
 * (packages/runtime/test/store/conformance.ts). Besides journals and values,
 * a store keeps durable work: an outbox of asynchronous effects and timers,
 * written in the same transaction as the state change that produced them,
 * and the idempotency records of commands sent with a client's key.
 */
import { createMemoryStore } from "./memory.js";
import { SCHEMA_VERSION } from "./migrations.js";
import { createPostgresStore, parsePostgresUrl } from "./postgres.js";
import { createSqliteStore } from "./sqlite.js";
import type { Store, StoreOptions } from "./types.js";

/** A parsed store location. */
export type StoreLocation =
  | { readonly kind: "memory" }
  | { readonly kind: "sqlite"; readonly path: string }
  | { readonly kind: "postgres"; readonly url: string };

const ACCEPTED =
  "use 'memory', 'sqlite:<path>', a file path such as .cairn/cairn.db, or postgres://user@host:5432/db[?schema=NAME]";

/** Parses a store location; see the module doc for the accepted forms. */
export function parseStoreLocation(location: string): { value: StoreLocation } | { error: string } {
  const trimmed = location.trim();
  if (trimmed === "") return { error: `store location is empty; ${ACCEPTED}` };
  if (trimmed === "memory") return { value: { kind: "memory" } };
  if (/^postgres(ql)?:\/\//i.test(trimmed)) {
    const pg = parsePostgresUrl(trimmed);
    return "error" in pg ? pg : { value: { kind: "postgres", url: trimmed } };
  }
  if (trimmed.startsWith("sqlite:")) {
    const path = trimmed.slice("sqlite:".length);
    if (path === "") return { error: `store location '${location}' has no file path; ${ACCEPTED}` };
    return { value: { kind: "sqlite", path } };
  }
  // Any other scheme is a typo (mysql://, postgress://) rather than a file name.
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    return { error: `store location '${location}' has an unsupported scheme; ${ACCEPTED}` };
  }
  return { value: { kind: "sqlite", path: trimmed } };
}

/**
 * Opens the store at `location`, applying schema migrations.
 *
 * @example
 * ```ts
 * const store = await createStore(".cairn/cairn.db");
 * const { sequence } = await store.append({
 *   entityType: "cart", entityId: "c1", expectedSequence: 0,
 *   events: [{ typeUrl: "json.cairn.dev/ItemAdded", value: new TextEncoder().encode("{}") }],
 * });
 * await store.close();
 * ```
 */
export async function createStore(location: string, options: StoreOptions = {}): Promise<Store> {
  const parsed = parseStoreLocation(location);
  if ("error" in parsed) throw new Error(parsed.error);
  const store = await open(parsed.value, options);
  options.logger?.info({ store: store.description, schemaVersion: SCHEMA_VERSION }, "store opened");
  return store;
}

function open(where: StoreLocation, options: StoreOptions): Promise<Store> {
  switch (where.kind) {
    case "memory":
      return Promise.resolve(createMemoryStore(options));
    case "sqlite":
      return createSqliteStore(where.path, options);
    case "postgres":
      return createPostgresStore(where.url, options);
  }
}

export { createMemoryStore } from "./memory.js";
export type { MemoryStoreOptions } from "./memory.js";
export { DEFAULT_SHARD_COUNT, FencedError } from "./cluster.js";
export type { ClusterStore, Fence, FencedWrite, Lease, Member } from "./cluster.js";
export { createSqliteStore } from "./sqlite.js";
export type { SqliteStoreOptions } from "./sqlite.js";
export { createPostgresStore, parsePostgresUrl } from "./postgres.js";
export type { PostgresLocation, PostgresStoreOptions } from "./postgres.js";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.js";
export type { Migration } from "./migrations.js";
export { SequenceConflictError, TimerLimitError } from "./types.js";
export { DEFAULT_MAX_TIMERS_PER_OWNER } from "./work-plan.js";
export {
  checkIdempotencyKey,
  DEFAULT_MAX_IDEMPOTENCY_KEYS_PER_ENTITY,
  MAX_IDEMPOTENCY_KEY_LENGTH,
} from "./idempotency.js";
export type { IdempotencyRecord, IdempotencyStore, IdempotencyWrite } from "./idempotency.js";
export type {
  DurableWork,
  DurableWorkStore,
  OutboxEntry,
  StoredCall,
  TimerChange,
  TimerEntry,
} from "./durable-work.js";
export type {
  AppendRequest,
  AppendResult,
  EntityRef,
  JournalEntry,
  JournalEvent,
  SaveValueRequest,
  Snapshot,
  Store,
  StoreKind,
  StoreLogger,
  StoreMetrics,
  StoreOptions,
  StoredPayload,
  ValueState,
} from "./types.js";
