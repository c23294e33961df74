/**
 * Group commit, shared by every adapter. Writes that arrive while a commit is
 * in flight queue up and go together into the next transaction: one fsync
 * for many writes is where durable throughput comes from. An idle store
 * commits on the next turn of the event loop, so a lone write never waits
 * for a timer.
 */
import { CairnError, Code } from "@cairn/protocol";
import { FencedError } from "./cluster.js";
import type { Fence, FencedWrite, Lease } from "./cluster.js";
import type { DurableWork } from "./durable-work.js";
import { SequenceConflictError, TimerLimitError } from "./types.js";
import type { AppendRequest, SaveValueRequest, StoreMetrics } from "./types.js";
import { validateOp, validateWork } from "./work-plan.js";
import type { WorkOp } from "./work-plan.js";

/**
 * One write of a batch: a state change (with its durable work), durable work
 * alone, or an operation on stored work. Plain data, so it can cross to a
 * worker thread.
 */
export type Write =
  | { readonly kind: "append"; readonly request: AppendRequest }
  | { readonly kind: "value"; readonly request: SaveValueRequest }
  | { readonly kind: "work"; readonly work: DurableWork & FencedWrite }
  | { readonly kind: "op"; readonly op: WorkOp };

/**
 * What became of one write: `ok` carries the append's last sequence or the
 * value's new version (0 for work and operations). Plain data for the same
 * reason as {@link Write}.
 */
export type Outcome =
  | { readonly kind: "ok"; readonly value: number }
  | { readonly kind: "conflict" }
  | {
      readonly kind: "timerLimit";
      readonly owner: string;
      readonly count: number;
      readonly limit: number;
    }
  | { readonly kind: "fenced"; readonly fence: Fence; readonly current: Lease | undefined }
  | { readonly kind: "error"; readonly message: string };

/** Commits a batch in one transaction and reports each write's outcome, in order. */
export type CommitBatch = (writes: readonly Write[]) => Promise<Outcome[]> | Outcome[];

/** Options of {@link GroupCommitter}. */
export interface GroupCommitterOptions {
  /** Store name for metrics, e.g. "sqlite". */
  readonly store: string;
  readonly maxBatch?: number;
  readonly metrics?: StoreMetrics;
  /**
   * True when the adapter checks fences (memory, postgres); a fenced write to
   * one that does not is refused rather than committed unchecked.
   */
  readonly fencing?: boolean;
}

interface Pending {
  readonly write: Write;
  resolve(value: number): void;
  reject(error: unknown): void;
}

/** Queues writes and commits them in batches, one batch in flight at a time. */
export class GroupCommitter {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight: Promise<void> | undefined;
  private readonly maxBatch: number;
  private closed = false;

  constructor(
    private readonly commit: CommitBatch,
    private readonly options: GroupCommitterOptions,
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /** Queues a write; resolves once its batch is durable. */
  submit(write: Write): Promise<number> {
    if (this.closed) {
      return Promise.reject(
        new CairnError(
          Code.Unavailable,
          `${this.options.store} store is closed; open a new one to write`,
        ),
      );
    }
    const invalid = validate(write) ?? this.unfenceable(write);
    if (invalid !== undefined) return Promise.reject(invalid);
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ write, resolve, reject });
      this.schedule();
    });
  }

  private unfenceable(write: Write): CairnError | undefined {
    if (this.options.fencing === true || fenceOf(write) === undefined) return undefined;
    return new CairnError(
      Code.FailedPrecondition,
      `${this.options.store} store cannot check shard fences: it is single-node; cluster mode needs a PostgreSQL store (postgres://...)`,
    );
  }

  /** Refuses further writes and resolves once the queued ones are committed (or failed). */
  close(): Promise<void> {
    this.closed = true;
    return this.drain();
  }

  /** Resolves once every write queued so far has been committed (or failed). */
  async drain(): Promise<void> {
    while (this.inFlight !== undefined || this.queue.length > 0 || this.scheduled) {
      if (this.inFlight !== undefined) await this.inFlight;
      else await new Promise<void>((r) => setImmediate(r));
    }
  }

  private schedule(): void {
    // One commit at a time keeps appends of one entity in submission order
    // across batches; whatever arrives meanwhile waits for the next one.
    if (this.scheduled || this.inFlight !== undefined) return;
    this.scheduled = true;
    // setImmediate rather than a microtask: writers woken by the previous
    // commit resubmit over several microtask hops, and this lets them all join.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.batchLength());
    this.inFlight = this.run(batch).finally(() => {
      this.inFlight = undefined;
      if (this.queue.length > 0) this.schedule();
    });
  }

  /** How many queued writes the next batch takes: up to maxBatch writes and about MAX_BATCH_BYTES. */
  private batchLength(): number {
    let bytes = 0;
    const limit = Math.min(this.queue.length, this.maxBatch);
    for (let i = 0; i < limit; i++) {
      bytes += payloadBytes(this.queue[i]!.write);
      // Always at least one write, however big, so a huge write still commits.
      if (bytes > MAX_BATCH_BYTES && i > 0) return i;
    }
    return limit;
  }

  private async run(batch: Pending[]): Promise<void> {
    const started = performance.now();
    let outcomes: Outcome[];
    try {
      outcomes = await this.commit(batch.map((p) => p.write));
    } catch (err) {
      const error = new CairnError(
        Code.Unavailable,
        `${this.options.store} store commit of ${batch.length} writes failed: ${(err as Error).message}`,
        { cause: err },
      );
      for (const p of batch) p.reject(error);
      return;
    }
    this.options.metrics?.storeCommit(
      this.options.store,
      batch.length,
      (performance.now() - started) / 1000,
    );
    batch.forEach((p, i) => settle(p, outcomes[i]));
  }
}

/**
 * Payload bytes per transaction before the rest waits for the next one: a
 * batch of big payloads must not become one query of gigabytes (PostgreSQL
 * caps a message at 1 GiB, and the hex encoding of bytea doubles it).
 */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

function payloadBytes(write: Write): number {
  if (write.kind === "op") return 0;
  const work = write.kind === "work" ? write.work : write.request;
  let bytes = 0;
  for (const c of work.outbox ?? []) bytes += c.payload.value.byteLength;
  for (const t of work.timers ?? [])
    if (t.kind === "schedule") bytes += t.call.payload.value.byteLength;
  for (const r of work.idempotency ?? []) bytes += r.outcome.value.byteLength;
  if (write.kind === "work") return bytes;
  if (write.kind === "value") return bytes + (write.request.state?.value.byteLength ?? 0);
  bytes += write.request.snapshot?.value.byteLength ?? 0;
  for (const e of write.request.events) bytes += e.value.byteLength;
  return bytes;
}

function settle(p: Pending, outcome: Outcome | undefined): void {
  if (outcome?.kind === "ok") return p.resolve(outcome.value);
  if (outcome?.kind === "fenced") return p.reject(new FencedError(outcome.fence, outcome.current));
  if (outcome?.kind === "timerLimit") {
    return p.reject(new TimerLimitError(outcome.owner, outcome.count, outcome.limit));
  }
  const w = p.write;
  if (outcome?.kind === "conflict" && (w.kind === "append" || w.kind === "value")) {
    const expected = w.kind === "append" ? w.request.expectedSequence : w.request.expectedVersion;
    return p.reject(new SequenceConflictError(w.request, expected));
  }
  p.reject(
    new CairnError(
      Code.Internal,
      `store ${describeWrite(w)} failed: ${outcome?.kind === "error" ? outcome.message : "no outcome reported"}`,
    ),
  );
}

/** Names a write in errors: "write to cart/c1", "write of durable work", "completeTimer". */
function describeWrite(w: Write): string {
  if (w.kind === "work") return "write of durable work";
  if (w.kind === "op") return w.op.kind;
  return `write to ${w.request.entityType}/${w.request.entityId}`;
}

/** The fence a write carries, if any. */
export function fenceOf(w: Write): Fence | undefined {
  return w.kind === "work" ? w.work.fence : w.kind === "op" ? w.op.fence : w.request.fence;
}

/** The error of a malformed write, caught before it can poison a batch. */
function validate(write: Write): CairnError | undefined {
  const fence = fenceOf(write);
  if (
    fence !== undefined &&
    !(Number.isSafeInteger(fence.shard) && fence.shard >= 0 && Number.isSafeInteger(fence.epoch))
  ) {
    return new CairnError(
      Code.InvalidArgument,
      `store ${describeWrite(write)} has fence shard ${String(fence.shard)} epoch ${String(fence.epoch)}; pass the shard and epoch of a lease this node holds`,
    );
  }
  if (write.kind === "work") return validateWork(write.work, "a write of durable work");
  if (write.kind === "op") return validateOp(write.op);
  const r = write.request;
  if (typeof r.entityType !== "string" || r.entityType === "") {
    return new CairnError(
      Code.InvalidArgument,
      "store write has an empty entityType; pass the component's persistence name",
    );
  }
  if (typeof r.entityId !== "string") {
    return new CairnError(Code.InvalidArgument, `store write to ${r.entityType} has no entityId`);
  }
  const expected =
    write.kind === "append" ? write.request.expectedSequence : write.request.expectedVersion;
  if (!Number.isSafeInteger(expected) || expected < 0) {
    return new CairnError(
      Code.InvalidArgument,
      `store write to ${r.entityType}/${r.entityId} has expected sequence/version ${String(expected)}; use a non-negative integer (0 for a new entity)`,
    );
  }
  return validateWork(r, `the write to ${r.entityType}/${r.entityId}`);
}
