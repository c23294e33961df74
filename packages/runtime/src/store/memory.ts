/**
 * The in-memory store, for tests and `cairn dev --store memory`. It keeps
 * the same group-commit path as the durable adapters so that tests exercise
 * batching and per-write conflicts exactly as production does.
 */
import { DEFAULT_SHARD_COUNT } from "./cluster.js";
import type { OutboxEntry, TimerEntry } from "./durable-work.js";
import { fenceOf, GroupCommitter } from "./group-commit.js";
import type { Outcome, Write } from "./group-commit.js";
import { MemoryCluster } from "./memory-cluster.js";
import { MemoryWork } from "./memory-work.js";
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
import { DEFAULT_MAX_TIMERS_PER_OWNER } from "./work-plan.js";
import { DurableWorkWrites } from "./work-writes.js";

/**
 * Creates an empty in-memory store; everything is lost on close.
 *
 * @example
 * ```ts
 * const store = createMemoryStore();
 * await store.append({ entityType: "cart", entityId: "c1", expectedSequence: 0, events: [e] });
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions = {}): Store {
  return new MemoryStore(options);
}

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions extends StoreOptions {
  /** The clock leases expire on (epoch ms; default Date.now), so tests can move time. */
  readonly now?: () => number;
}

interface EntityData {
  events: JournalEntry[];
  snapshot?: Snapshot;
}

/** Key of an entity; the NUL separator cannot occur in a type name. */
function keyOf(ref: EntityRef): string {
  return `${ref.entityType}\u0000${ref.entityId}`;
}

class MemoryStore extends DurableWorkWrites implements Store {
  readonly kind = "memory";
  readonly description = "memory";
  private readonly entities = new Map<string, EntityData>();
  private readonly values = new Map<string, ValueState>();
  private readonly journal: JournalEntry[] = [];
  private readonly work: MemoryWork;
  protected readonly committer: GroupCommitter;
  readonly cluster: MemoryCluster;

  constructor(options: MemoryStoreOptions) {
    super();
    this.work = new MemoryWork(
      options.maxTimersPerOwner ?? DEFAULT_MAX_TIMERS_PER_OWNER,
      options.maxIdempotencyKeysPerEntity ?? DEFAULT_MAX_IDEMPOTENCY_KEYS_PER_ENTITY,
    );
    this.cluster = new MemoryCluster(
      options.cluster?.shards ?? DEFAULT_SHARD_COUNT,
      options.now ?? Date.now,
    );
    this.committer = new GroupCommitter((writes) => writes.map((w) => this.apply(w)), {
      store: "memory",
      ...options,
      fencing: true,
    });
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    return { sequence: await this.committer.submit({ kind: "append", request }) };
  }

  loadSnapshot(ref: EntityRef): Promise<Snapshot | undefined> {
    return Promise.resolve(this.entities.get(keyOf(ref))?.snapshot);
  }

  loadEvents(ref: EntityRef, afterSequence: number): Promise<JournalEvent[]> {
    const events = this.entities.get(keyOf(ref))?.events ?? [];
    return Promise.resolve(
      events
        .filter((e) => e.sequence > afterSequence)
        .map(({ sequence, payload, offset, timestamp }) => ({
          sequence,
          payload,
          offset,
          timestamp,
        })),
    );
  }

  lastSequence(ref: EntityRef): Promise<number> {
    return Promise.resolve(this.entities.get(keyOf(ref))?.events.at(-1)?.sequence ?? 0);
  }

  loadValue(ref: EntityRef): Promise<ValueState | undefined> {
    return Promise.resolve(this.values.get(keyOf(ref)));
  }

  saveValue(request: SaveValueRequest): Promise<number> {
    return this.committer.submit({ kind: "value", request });
  }

  readJournal(afterOffset: number, limit: number): Promise<JournalEntry[]> {
    // Offsets are 1-based and dense here, so the row with offset n sits at n-1.
    return Promise.resolve(this.journal.slice(Math.max(0, afterOffset), afterOffset + limit));
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
    return Promise.resolve(this.work.loadIdempotency(ref, key));
  }

  close(): Promise<void> {
    return this.committer.close();
  }

  private apply(write: Write): Outcome {
    const fenced = this.cluster.check(fenceOf(write));
    if (fenced) return fenced;
    switch (write.kind) {
      case "append":
        return this.applyAppend(write.request);
      case "value":
        return this.applyValue(write.request);
      case "work":
        return this.work.write(write.work, write.work.fence?.shard ?? 0);
      case "op":
        return this.work.op(write.op);
    }
  }

  private applyAppend(r: AppendRequest): Outcome {
    const key = keyOf(r);
    const data = this.entities.get(key) ?? { events: [] };
    const last = r.expectedSequence + r.events.length;
    // The unique (entity, sequence) guard: any taken sequence in the range fails all.
    // Without events, any later event means the writer is stale.
    const upper = r.events.length === 0 ? Infinity : last;
    for (let i = data.events.length - 1; i >= 0; i--) {
      const seq = data.events[i]!.sequence;
      if (seq <= r.expectedSequence) break;
      if (seq <= upper) return { kind: "conflict" };
    }
    const limited = this.work.check(r);
    if (limited) return limited;
    const timestamp = Date.now();
    // Only an append below a gap lands before existing events and needs a re-sort.
    const sorted = (data.events.at(-1)?.sequence ?? 0) < r.expectedSequence + 1;
    r.events.forEach((payload, i) => {
      const entry: JournalEntry = {
        entityType: r.entityType,
        entityId: r.entityId,
        sequence: r.expectedSequence + i + 1,
        payload: copy(payload),
        offset: this.journal.length + 1,
        timestamp,
      };
      this.journal.push(entry);
      data.events.push(entry);
    });
    // Events are kept sorted so loadEvents and lastSequence stay simple.
    if (!sorted) data.events.sort((a, b) => a.sequence - b.sequence);
    if (r.snapshot !== undefined) {
      if (data.snapshot === undefined || data.snapshot.sequence <= last) {
        data.snapshot = { sequence: last, state: copy(r.snapshot) };
      }
    }
    this.entities.set(key, data);
    this.work.apply(r, r.fence?.shard ?? 0);
    return ok(last);
  }

  private applyValue(r: SaveValueRequest): Outcome {
    const key = keyOf(r);
    const current = this.values.get(key)?.version ?? 0;
    if (current !== r.expectedVersion) return { kind: "conflict" };
    const limited = this.work.check(r);
    if (limited) return limited;
    this.work.apply(r, r.fence?.shard ?? 0);
    if (r.state === undefined) {
      this.values.delete(key);
      return ok(0);
    }
    this.values.set(key, { version: current + 1, state: copy(r.state) });
    return ok(current + 1);
  }
}

function ok(value: number): Outcome {
  return { kind: "ok", value };
}

/** Copies a payload so a caller reusing its buffer cannot change stored data. */
function copy(p: { typeUrl: string; value: Uint8Array }): { typeUrl: string; value: Uint8Array } {
  return { typeUrl: p.typeUrl, value: Uint8Array.from(p.value) };
}
