/**
 * Shards and leases of the in-memory store: the same rules as PostgreSQL's
 * (docs/decisions/0009), for nodes that share one process in tests. The
 * memory store applies a batch's writes one by one on the event loop, so a
 * fence checked just before a write holds for the write.
 */
import type { ClusterStore, Fence, Lease, Member } from "./cluster.js";
import type { Outcome } from "./group-commit.js";

/** Lease rows in memory, judged on an injected clock. */
export class MemoryCluster implements ClusterStore {
  private readonly leases: Lease[];
  private readonly members = new Map<string, Omit<Member, "ageMs">>();

  constructor(
    readonly shardCount: number,
    private readonly now: () => number,
  ) {
    this.leases = Array.from({ length: shardCount }, (_, shard) => ({
      shard,
      owner: undefined,
      epoch: 0,
      expiresAt: 0,
    }));
  }

  /** The fenced outcome of a write holding `fence`, or undefined when it may commit. */
  check(fence: Fence | undefined): Outcome | undefined {
    if (fence === undefined) return undefined;
    const lease = this.leases[fence.shard];
    if (lease && this.live(lease) && lease.epoch === fence.epoch) return undefined;
    return { kind: "fenced", fence, current: lease };
  }

  acquireLeases(node: string, shards: readonly number[], ttlMs: number): Promise<Lease[]> {
    const got: Lease[] = [];
    for (const shard of [...new Set(shards)].sort((a, b) => a - b)) {
      const lease = this.leases[shard];
      if (lease === undefined || this.live(lease)) continue;
      got.push(
        this.set({ shard, owner: node, epoch: lease.epoch + 1, expiresAt: this.now() + ttlMs }),
      );
    }
    return Promise.resolve(got);
  }

  renewLeases(node: string, held: readonly Fence[], ttlMs: number): Promise<Lease[]> {
    const renewed: Lease[] = [];
    for (const f of held) {
      const lease = this.leases[f.shard];
      if (lease?.owner !== node || lease.epoch !== f.epoch || !this.live(lease)) continue;
      renewed.push(this.set({ ...lease, expiresAt: this.now() + ttlMs }));
    }
    return Promise.resolve(renewed.sort((a, b) => a.shard - b.shard));
  }

  releaseLeases(node: string, held: readonly Fence[]): Promise<void> {
    for (const f of held) {
      const lease = this.leases[f.shard];
      if (lease?.owner !== node || lease.epoch !== f.epoch) continue;
      this.set({ ...lease, owner: undefined, expiresAt: 0 });
    }
    return Promise.resolve();
  }

  listLeases(): Promise<Lease[]> {
    return Promise.resolve([...this.leases]);
  }

  heartbeat(nodeId: string, address: string): Promise<void> {
    const now = this.now();
    const joinedAt = this.members.get(nodeId)?.joinedAt ?? now;
    this.members.set(nodeId, { nodeId, address, heartbeatAt: now, joinedAt });
    return Promise.resolve();
  }

  listMembers(): Promise<Member[]> {
    const now = this.now();
    return Promise.resolve(
      [...this.members.values()]
        .sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
        .map((m) => ({ ...m, ageMs: Math.max(0, now - m.heartbeatAt) })),
    );
  }

  leave(nodeId: string): Promise<void> {
    this.members.delete(nodeId);
    return Promise.resolve();
  }

  private live(lease: Lease): boolean {
    return lease.owner !== undefined && lease.expiresAt > this.now();
  }

  private set(lease: Lease): Lease {
    this.leases[lease.shard] = lease;
    return lease;
  }
}
