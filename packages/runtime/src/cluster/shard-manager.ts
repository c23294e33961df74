/**
 * One node's side of shard ownership (docs/decisions/0009): it heartbeats
 * into the membership table, computes who should own each shard by
 * rendezvous hashing over the live members, and acquires, renews, hands
 * over and releases its leases to match.
 *
 * The rule that keeps one entity active on one node: a lease is valid here
 * only until `renewal sent + leaseMs - marginMs` on this node's clock. The
 * store set its expiry to at least `renewal sent + leaseMs` on its own clock,
 * so the shard's entities are dropped here before anyone can take it,
 * provided the clocks run at about the same rate. A node that was paused
 * (SIGSTOP, a long GC) finds on waking that its leases ran out, and drops
 * their entities before doing anything else; any write it had in flight is
 * refused by its fence.
 */
import type { CancelTimeout, Clock } from "../core/clock.js";
import { systemClock } from "../core/clock.js";
import type { ClusterStore, Fence, Lease } from "../store/cluster.js";
import { rendezvousOwners } from "./shards.js";

/** Why a node lets go of a shard. */
export type ReleaseReason = "lost" | "handover" | "stop";

/** What the node does with its entities as shards come and go. */
export interface ShardListener {
  /** This node now owns `fence.shard` at `fence.epoch`; its entities may activate. */
  acquired?(fence: Fence): void;
  /**
   * This node is letting go of the shard: drop (passivate) its entities and
   * stop accepting commands for it; resolve once they are gone. For a
   * handover or a stop the lease is released only after this resolves.
   */
  releasing?(fence: Fence, reason: ReleaseReason): Promise<void>;
}

/** The manager's logger (a subset of pino's). */
export interface ShardLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of {@link createShardManager}. */
export interface ShardManagerOptions {
  readonly store: ClusterStore;
  /** This node's id, unique in the cluster. */
  readonly nodeId: string;
  /** Where peers reach this node's internal port (host:port). */
  readonly address: string;
  readonly clock?: Clock;
  /** How long an acquisition or renewal holds a shard (default 3000 ms). */
  readonly leaseMs?: number;
  /** Between heartbeats, renewals and rebalancing (default 500 ms). */
  readonly heartbeatMs?: number;
  /** A member whose heartbeat is older is gone (default 2000 ms). */
  readonly memberTimeoutMs?: number;
  /** Dropped this much before the lease's end, for clock rate and delay (default heartbeatMs). */
  readonly marginMs?: number;
  readonly listener?: ShardListener;
  readonly logger?: ShardLogger;
}

/** A shard this node holds. */
export interface HeldShard extends Fence {
  /** Until when (this node's clock) the lease counts as held here. */
  readonly validUntil: number;
}

/** One node's shard ownership. */
export interface ShardManager {
  readonly nodeId: string;
  /** The fence for writes to `shard`, if this node holds it now. */
  fence(shard: number): Fence | undefined;
  /** Shards held now, in shard order. */
  held(): HeldShard[];
  /** Heartbeats and takes its first shards, then keeps doing so every heartbeatMs. */
  start(): Promise<void>;
  /** One round: heartbeat, renew, hand over, acquire (tests drive it by hand or by the clock). */
  tick(): Promise<void>;
  /** Hands every shard over (drop entities, release), leaves the membership, stops ticking. */
  stop(): Promise<void>;
}

/**
 * Creates the shard manager of one node.
 *
 * @example
 * ```ts
 * const shards = createShardManager({ store: store.cluster!, nodeId: "n1", address: "10.0.0.1:9001" });
 * await shards.start();
 * const fence = shards.fence(shardOf(ref, store.cluster!.shardCount));
 * ```
 */
export function createShardManager(options: ShardManagerOptions): ShardManager {
  return new ShardManagerImpl(options);
}

class ShardManagerImpl implements ShardManager {
  readonly nodeId: string;
  private readonly store: ClusterStore;
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private readonly heartbeatMs: number;
  private readonly memberTimeoutMs: number;
  private readonly marginMs: number;
  private readonly shards = new Map<number, HeldShard>();
  /** Shards being dropped: not held for writes, not acquired again until the drop is done. */
  private readonly dropping = new Set<number>();
  private running: Promise<void> | undefined;
  private cancelTick: CancelTimeout | undefined;
  private cancelWatch: CancelTimeout | undefined;
  private stopped = false;

  constructor(private readonly options: ShardManagerOptions) {
    this.nodeId = options.nodeId;
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.heartbeatMs = options.heartbeatMs ?? 500;
    this.leaseMs = options.leaseMs ?? 3000;
    this.memberTimeoutMs = options.memberTimeoutMs ?? 2000;
    this.marginMs = options.marginMs ?? this.heartbeatMs;
  }

  fence(shard: number): Fence | undefined {
    const held = this.shards.get(shard);
    if (held === undefined || held.validUntil <= this.clock.now()) return undefined;
    return { shard: held.shard, epoch: held.epoch };
  }

  held(): HeldShard[] {
    return [...this.shards.values()].sort((a, b) => a.shard - b.shard);
  }

  async start(): Promise<void> {
    await this.tick();
    this.schedule();
    this.watch();
  }

  tick(): Promise<void> {
    // One round at a time: a slow store must not pile rounds up.
    this.running ??= this.round().finally(() => (this.running = undefined));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTick?.();
    this.cancelWatch?.();
    await this.running?.catch(() => undefined);
    const all = this.held();
    await Promise.all(all.map((h) => this.drop(h, "stop")));
    await this.store.releaseLeases(this.nodeId, all);
    for (const h of all) this.log("lease handed over", h, { reason: "stop" });
    await this.store.leave(this.nodeId);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTick = this.clock.timeout(this.heartbeatMs, () => {
      this.tick().then(
        () => this.schedule(),
        (err: unknown) => {
          this.options.logger?.warn(
            { err, node: this.nodeId },
            "cluster: shard round failed; retrying",
          );
          this.schedule();
        },
      );
    });
  }

  /** Drops leases that ran out here even while a round is stuck on the store. */
  private watch(): void {
    if (this.stopped) return;
    this.cancelWatch = this.clock.timeout(Math.max(1, this.marginMs / 2), () => {
      this.expireLocally();
      this.watch();
    });
  }

  private expireLocally(): void {
    const now = this.clock.now();
    for (const h of this.shards.values()) {
      // drop() handles its listener's failure itself; this catch is for a bug in it.
      if (h.validUntil <= now) this.drop(h, "lost").catch((err: unknown) => this.warn(err, h));
    }
  }

  private async round(): Promise<void> {
    // First, before any other work: leases that ran out while this node was paused.
    this.expireLocally();
    await this.store.heartbeat(this.nodeId, this.options.address);
    await this.renew();
    const desired = await this.desiredOwners();
    const leaving = this.held().filter((h) => desired.get(h.shard) !== this.nodeId);
    if (leaving.length > 0) await this.handOver(leaving);
    const wanted: number[] = [];
    for (const [shard, owner] of desired) {
      if (owner === this.nodeId && !this.shards.has(shard) && !this.dropping.has(shard)) {
        wanted.push(shard);
      }
    }
    if (wanted.length === 0 || this.stopped) return;
    const sent = this.clock.now();
    const got = await this.store.acquireLeases(this.nodeId, wanted, this.leaseMs);
    for (const lease of got) this.take(lease, sent);
  }

  private async renew(): Promise<void> {
    const held = this.held();
    if (held.length === 0) return;
    const sent = this.clock.now();
    const renewed = await this.store.renewLeases(this.nodeId, held, this.leaseMs);
    const kept = new Set(renewed.map((l) => l.shard));
    for (const h of held) {
      if (!kept.has(h.shard)) await this.drop(h, "lost");
      else if (this.shards.get(h.shard) === h) {
        this.shards.set(h.shard, { ...h, validUntil: sent + this.leaseMs - this.marginMs });
      }
    }
  }

  /** The shards' preferred owners among the live members (this node always counts: it just heartbeated). */
  private async desiredOwners(): Promise<Map<number, string>> {
    const members = await this.store.listMembers();
    const live = members.filter((m) => m.ageMs <= this.memberTimeoutMs).map((m) => m.nodeId);
    if (!live.includes(this.nodeId)) live.push(this.nodeId);
    return rendezvousOwners(live, this.store.shardCount);
  }

  private async handOver(leaving: readonly HeldShard[]): Promise<void> {
    await Promise.all(leaving.map((h) => this.drop(h, "handover")));
    await this.store.releaseLeases(this.nodeId, leaving);
    for (const h of leaving) this.log("lease handed over", h, { reason: "rebalance" });
  }

  private take(lease: Lease, sent: number): void {
    const held: HeldShard = {
      shard: lease.shard,
      epoch: lease.epoch,
      validUntil: sent + this.leaseMs - this.marginMs,
    };
    this.shards.set(lease.shard, held);
    this.log("lease acquired", held);
    this.options.listener?.acquired?.({ shard: held.shard, epoch: held.epoch });
  }

  /** Stops counting the shard as held at once, then lets the listener drop its entities. */
  private async drop(h: HeldShard, reason: ReleaseReason): Promise<void> {
    if (this.shards.get(h.shard) !== h) return;
    this.shards.delete(h.shard);
    this.dropping.add(h.shard);
    if (reason === "lost") this.log("lease lost", h);
    try {
      await this.options.listener?.releasing?.({ shard: h.shard, epoch: h.epoch }, reason);
    } catch (err) {
      this.warn(err, h);
    } finally {
      this.dropping.delete(h.shard);
    }
  }

  private warn(err: unknown, h: Fence): void {
    this.options.logger?.warn(
      { err, node: this.nodeId, shard: h.shard, epoch: h.epoch },
      "cluster: dropping a shard's entities failed",
    );
  }

  private log(msg: string, h: Fence, extra: object = {}): void {
    this.options.logger?.info(
      { node: this.nodeId, shard: h.shard, epoch: h.epoch, ...extra },
      `cluster: ${msg}`,
    );
  }
}
