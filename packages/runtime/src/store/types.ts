/**
 * The store: everything durable a runtime node keeps. One interface, three
 * adapters (memory, sqlite, postgres) that pass one conformance suite.
 *
 * Every write method resolves only once the write is durable (committed and,
 * for sqlite/postgres, synced). Adapters group-commit: writes that arrive
 * while a commit is in flight go together into the next transaction, yet each
 * write succeeds or fails on its own (a conflicting append never fails the
 * other appends of its batch).
 */
import type { ClusterStore, FencedWrite } from "./cluster.js";
import type { DurableWork, DurableWorkStore } from "./durable-work.js";
import type { IdempotencyStore } from "./idempotency.js";

/** A payload as stored: a type URL and its bytes (a protobuf Any). */
export interface StoredPayload {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** Identifies one entity instance. `entityType` is the stable persistence name. */
export interface EntityRef {
  readonly entityType: string;
  readonly entityId: string;
}

/** One journal row. */
export interface JournalEvent {
  /** Per-entity sequence, 1 for the first event. */
  readonly sequence: number;
  readonly payload: StoredPayload;
  /** Global offset in the store's journal, increasing in commit order per entity. */
  readonly offset: number;
  /** Commit time, epoch milliseconds. */
  readonly timestamp: number;
}

export interface Snapshot {
  /** Sequence of the last event folded into the state. */
  readonly sequence: number;
  readonly state: StoredPayload;
}

/**
 * The events of one command, with the durable work (outbox entries, timer
 * changes) stored in the same transaction: a failed append stores none of it.
 */
export interface AppendRequest extends EntityRef, DurableWork, FencedWrite {
  /**
   * Sequence of the last event the writer has seen (0 for a new entity). The
   * events get expectedSequence+1, +2, ... If any of those sequences already
   * exists the append fails with a SequenceConflictError and writes nothing.
   * An append with no events (work only) checks instead that no event
   * follows expectedSequence, so a stale writer's work is refused too.
   */
  readonly expectedSequence: number;
  readonly events: readonly StoredPayload[];
  /** Stored in the same transaction, at the sequence of the last event. */
  readonly snapshot?: StoredPayload;
}

export interface AppendResult {
  /** Sequence of the last appended event. */
  readonly sequence: number;
}

export interface ValueState {
  /** Incremented on each write; 1 after the first. */
  readonly version: number;
  readonly state: StoredPayload;
}

/** A value write, with durable work stored in the same transaction (none of it if the write fails). */
export interface SaveValueRequest extends EntityRef, DurableWork, FencedWrite {
  /** The version the writer has seen: 0 when it saw no state. Mismatch: SequenceConflictError. */
  readonly expectedVersion: number;
  /** The new state, or undefined to delete it. */
  readonly state: StoredPayload | undefined;
}

/** Store adapter names. */
export type StoreKind = "memory" | "sqlite" | "postgres";

/**
 * The durable state of a node; also the outbox and timers
 * ({@link DurableWorkStore}) and the idempotency records of keyed commands
 * ({@link IdempotencyStore}).
 */
export interface Store extends DurableWorkStore, IdempotencyStore {
  readonly kind: StoreKind;
  /** Human-readable location for logs, without credentials. */
  readonly description: string;
  /**
   * Shards, leases and fencing, on stores several nodes can share
   * (PostgreSQL, memory for in-process tests); undefined on SQLite.
   */
  readonly cluster?: ClusterStore;

  /** Appends the events of one command, all or none; see {@link AppendRequest}. */
  append(request: AppendRequest): Promise<AppendResult>;
  /** The latest snapshot of an entity, if any. */
  loadSnapshot(ref: EntityRef): Promise<Snapshot | undefined>;
  /** Events with sequence > afterSequence, in order (all of them). */
  loadEvents(ref: EntityRef, afterSequence: number): Promise<JournalEvent[]>;
  /** Highest sequence of an entity (0 if none). */
  lastSequence(ref: EntityRef): Promise<number>;

  /** The current state of a value entity, if any. */
  loadValue(ref: EntityRef): Promise<ValueState | undefined>;
  /** Writes (or deletes) the state of a value entity; resolves to the new version (0 after delete). */
  saveValue(request: SaveValueRequest): Promise<number>;

  /**
   * Up to `limit` journal rows with offset > afterOffset, in offset order (for
   * eventing). On PostgreSQL with several nodes, offsets are assigned at insert
   * and become visible at commit, so a reader may see offset n+1 before n.
   */
  readJournal(afterOffset: number, limit: number): Promise<JournalEntry[]>;

  /** Waits for pending writes, then releases connections and files. */
  close(): Promise<void>;
}

/** A journal row with the entity it belongs to, as read by {@link Store.readJournal}. */
export interface JournalEntry extends JournalEvent, EntityRef {}

/** What the store reports to the runtime's metrics (a subset of RuntimeMetrics). */
export interface StoreMetrics {
  /** A group commit of `batchSize` writes took `seconds` on store `store`. */
  storeCommit(store: string, batchSize: number, seconds: number): void;
}

/** The store's logger (a subset of pino's). */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of createStore and the adapters' create functions. */
export interface StoreOptions {
  readonly metrics?: StoreMetrics;
  readonly logger?: StoreLogger;
  /** Most writes per group commit (default 1000); the rest wait for the next commit. */
  readonly maxBatch?: number;
  /**
   * Most timers one owner may hold, parked included (default 1000); a write
   * that would exceed it fails with a {@link TimerLimitError}.
   */
  readonly maxTimersPerOwner?: number;
  /**
   * Cluster mode: the store must support shard leases (PostgreSQL); opening
   * SQLite with it fails. `shards` applies when the schema is created
   * (default 256) and must match it afterwards.
   */
  readonly cluster?: { readonly shards?: number };
  /**
   * Most idempotency records one component instance keeps (default 10,000);
   * a write that adds more drops that instance's oldest in the same transaction.
   */
  readonly maxIdempotencyKeysPerEntity?: number;
}

/** An append or value write lost against another writer of the same entity. */
export class SequenceConflictError extends Error {
  override readonly name = "SequenceConflictError";
  constructor(
    readonly ref: EntityRef,
    readonly expected: number,
  ) {
    super(
      `concurrent write to ${ref.entityType}/${ref.entityId}: expected sequence/version ${expected} is no longer the latest`,
    );
  }
}

/**
 * A write whose timer schedules would take an owner past
 * StoreOptions.maxTimersPerOwner. Like a conflict, it fails that write alone
 * (none of its events, state or work is stored); its batch neighbours commit.
 */
export class TimerLimitError extends Error {
  override readonly name = "TimerLimitError";
  constructor(
    readonly owner: string,
    readonly count: number,
    readonly limit: number,
  ) {
    super(
      `too many timers for ${owner}: this write would make ${count}, the limit is ${limit}; cancel timers that are no longer needed or raise the store option maxTimersPerOwner`,
    );
  }
}
