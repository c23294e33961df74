/**
 * The commit pipeline of one entity. Replies queue here in the order their
 * commands were sent; the state changes of every reply that arrived while a
 * write was in flight go to the store together, as ONE write (all or none
 * for the group), when the previous write lands. That keeps a hot entity's
 * throughput bound by commands per fsync, not by fsyncs per second, while
 * keeping the rules: nothing is released before it is durable, and a reply
 * that only read state (a query) still waits for the writes before it.
 */
import type { EntityReply } from "./entity-kind.js";

/** A reply waiting for its commit, with whatever the entity needs to answer it. */
export interface Replied<C, R> {
  readonly command: C;
  readonly reply: R;
}

/** What the queue needs from its entity. */
export interface CommitHooks<C, R extends EntityReply> {
  /** True when the reply changes state (or stores work or an idempotency record) and must be written. */
  changesState(replied: Replied<C, R>): boolean;
  /** True when a reply must be the last of its write group. */
  endsGroup(reply: R): boolean;
  /** Writes the group; rejects when the store refused it. */
  persist(batch: readonly Replied<C, R>[]): Promise<void>;
  /** The group is durable (or needed no write): answer this reply. */
  release(replied: Replied<C, R>): void;
  /** The write failed: `lost` is the group and every reply queued after it, none durable. */
  failed(err: unknown, lost: readonly Replied<C, R>[]): void;
  /** The queue ran dry or stopped (after a release or a failure). */
  settled(): void;
}

/** Replies in commit order, written in groups, one write in flight at a time. */
export class CommitQueue<C, R extends EntityReply> {
  private readonly queue: Replied<C, R>[] = [];
  private running = false;

  constructor(private readonly hooks: CommitHooks<C, R>) {}

  /** True while replies wait or a write is in flight. */
  get busy(): boolean {
    return this.running || this.queue.length > 0;
  }

  /** Queues a reply; returns the run, which rejects only on a bug (failures go to `failed`). */
  push(replied: Replied<C, R>): Promise<void> {
    this.queue.push(replied);
    return this.run();
  }

  /** Removes every queued reply (not the group being written), e.g. on an engine fault. */
  drain(): Replied<C, R>[] {
    return this.queue.splice(0);
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const cut = this.queue.findIndex((r) => this.hooks.endsGroup(r.reply));
        const batch = this.queue.splice(0, cut === -1 ? this.queue.length : cut + 1);
        if (batch.some((r) => this.hooks.changesState(r))) {
          try {
            await this.hooks.persist(batch);
          } catch (err) {
            // Everything computed on top of the lost change is invalid too.
            this.hooks.failed(err, [...batch, ...this.queue.splice(0)]);
            return;
          }
        }
        for (const r of batch) this.hooks.release(r);
      }
    } finally {
      this.running = false;
      this.hooks.settled();
    }
  }
}
