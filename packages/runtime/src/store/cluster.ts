/**
 * The cluster half of the store contract (docs/decisions/0009): shards,
 * their leases and fencing. Entity ids hash into a fixed number of shards;
 * a lease gives one node a shard at an epoch, and every durable write of an
 * entity carries the {@link Fence} its writer holds. The commit checks the
 * fence in the same transaction as the write, so a writer whose lease
 * expired or moved can never commit, however long it was paused.
 *
 * Only stores that several nodes can share implement it (PostgreSQL, and the
 * memory store for in-process tests); SQLite is single-node.
 */

/** Shards of a new cluster schema unless configured otherwise; fixed once the schema exists. */
export const DEFAULT_SHARD_COUNT = 256;

/** What a writer holds: its writes commit only while `shard`'s lease is still at `epoch` and unexpired. */
export interface Fence {
  readonly shard: number;
  readonly epoch: number;
}

/** The fence part of a write; without one (single-node mode) nothing is checked and nothing costs more. */
export interface FencedWrite {
  readonly fence?: Fence;
}

/** One row of the lease table. */
export interface Lease {
  readonly shard: number;
  /** The holding node, or undefined when released (or never taken). */
  readonly owner: string | undefined;
  /** Incremented by every acquisition: the fence a holder's writes carry. */
  readonly epoch: number;
  /** Epoch ms on the store's clock after which the lease is free to take. */
  readonly expiresAt: number;
}

/** One row of the membership table, as read. */
export interface Member {
  readonly nodeId: string;
  /** Where peers reach the node's internal port (host:port). */
  readonly address: string;
  /** Epoch ms on the store's clock. */
  readonly heartbeatAt: number;
  readonly joinedAt: number;
  /** Milliseconds since its last heartbeat, on the store's clock when read. */
  readonly ageMs: number;
}

/** Shard ownership and membership as rows and conditional writes in the store; no consensus of our own. */
export interface ClusterStore {
  /** The schema's shard count, fixed when it was created. */
  readonly shardCount: number;
  /**
   * Takes those of `shards` that are free (released, never taken, or expired
   * on the store's clock) for `node`, each at a new epoch; resolves to the
   * leases it got. A shard still held, by `node` itself included, is skipped:
   * a holder extends with {@link ClusterStore.renewLeases}.
   */
  acquireLeases(node: string, shards: readonly number[], ttlMs: number): Promise<Lease[]>;
  /**
   * Extends the unexpired leases `node` holds at the given epochs to
   * now + `ttlMs`; resolves to those renewed. A lease missing from the answer
   * is lost: its entities must be dropped before it can be taken elsewhere.
   */
  renewLeases(node: string, held: readonly Fence[], ttlMs: number): Promise<Lease[]>;
  /** Gives up leases `node` holds at the given epochs, so the next owner need not wait for expiry. */
  releaseLeases(node: string, held: readonly Fence[]): Promise<void>;
  /** Every shard's lease, in shard order. */
  listLeases(): Promise<Lease[]>;
  /** Registers `nodeId` at `address`, or refreshes its heartbeat (the store's clock). */
  heartbeat(nodeId: string, address: string): Promise<void>;
  /** Every registered member, in node id order; the caller judges liveness by `ageMs`. */
  listMembers(): Promise<Member[]>;
  /** Removes a member that stops gracefully, so the others need not wait for its timeout. */
  leave(nodeId: string): Promise<void>;
}

/**
 * A write refused because its fence is stale: the shard's lease expired,
 * was released, or moved to a newer epoch. Nothing of the write is stored;
 * its batch neighbours commit.
 */
export class FencedError extends Error {
  override readonly name = "FencedError";
  constructor(
    readonly fence: Fence,
    /** The lease as the commit found it, if the shard exists. */
    readonly current: Lease | undefined,
  ) {
    super(
      `write fenced: it holds shard ${fence.shard} at epoch ${fence.epoch}, but ${describeLease(fence.shard, current)}; this node no longer owns the shard, so the write was not stored`,
    );
  }
}

function describeLease(shard: number, lease: Lease | undefined): string {
  if (lease === undefined) return `the store has no shard ${shard}`;
  if (lease.owner === undefined) return `the lease was released (epoch ${lease.epoch})`;
  return `the lease is at epoch ${lease.epoch} held by ${lease.owner} until ${new Date(lease.expiresAt).toISOString()}`;
}
