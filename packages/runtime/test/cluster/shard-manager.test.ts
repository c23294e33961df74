/**
 * The shard manager alone, over the memory store's leases, on manual clocks:
 * each node has a clock of its own, so a node whose clock stops is a paused
 * node (SIGSTOP) while the others and the store's clock move on.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createShardManager } from "../../src/cluster/shard-manager.js";
import type { ReleaseReason, ShardManager } from "../../src/cluster/shard-manager.js";
import { ManualClock } from "../../src/core/clock.js";
import { createMemoryStore } from "../../src/store/memory.js";
import type { ClusterStore, Fence } from "../../src/store/cluster.js";
import type { Store } from "../../src/store/types.js";

const SHARDS = 32;
const HEARTBEAT = 500;
const LEASE = 3000;

interface Event {
  readonly node: string;
  readonly kind: "acquired" | ReleaseReason;
  readonly shard: number;
  readonly epoch: number;
}

/** A cluster of managers over one memory store; `time` is the store's (the real world's) clock. */
class Harness {
  readonly time = new ManualClock();
  readonly store: Store = createMemoryStore({
    cluster: { shards: SHARDS },
    now: () => this.time.now(),
  });
  readonly events: Event[] = [];
  readonly nodes = new Map<
    string,
    { manager: ShardManager; clock: ManualClock; paused: boolean }
  >();
  /** Nodes cut off from the store: every call of theirs fails, as with a network partition. */
  readonly cut = new Set<string>();

  get cluster(): ClusterStore {
    return this.store.cluster!;
  }

  async add(id: string): Promise<ShardManager> {
    const clock = new ManualClock(this.time.now());
    const manager = createShardManager({
      store: this.reachedBy(id),
      nodeId: id,
      address: `127.0.0.1:${9000 + this.nodes.size}`,
      clock,
      heartbeatMs: HEARTBEAT,
      leaseMs: LEASE,
      memberTimeoutMs: 2000,
      listener: {
        acquired: (f: Fence) => this.events.push({ node: id, kind: "acquired", ...f }),
        releasing: (f: Fence, kind: ReleaseReason) => {
          this.events.push({ node: id, kind, ...f });
          return Promise.resolve();
        },
      },
    });
    this.nodes.set(id, { manager, clock, paused: false });
    await manager.start();
    return manager;
  }

  /** The store as node `id` reaches it: failing while the node is cut off. */
  private reachedBy(id: string): ClusterStore {
    const store = this.cluster;
    const gate = <T>(call: () => Promise<T>): Promise<T> =>
      this.cut.has(id) ? Promise.reject(new Error(`${id} is cut off from the store`)) : call();
    return {
      shardCount: store.shardCount,
      acquireLeases: (...a) => gate(() => store.acquireLeases(...a)),
      renewLeases: (...a) => gate(() => store.renewLeases(...a)),
      releaseLeases: (...a) => gate(() => store.releaseLeases(...a)),
      listLeases: () => gate(() => store.listLeases()),
      heartbeat: (...a) => gate(() => store.heartbeat(...a)),
      listMembers: () => gate(() => store.listMembers()),
      leave: (...a) => gate(() => store.leave(...a)),
    };
  }

  /** Moves time on in heartbeat steps, letting each node's round settle; paused nodes' clocks stand still. */
  async run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += HEARTBEAT / 5) {
      this.time.advance(HEARTBEAT / 5);
      for (const n of this.nodes.values()) if (!n.paused) n.clock.advance(HEARTBEAT / 5);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  }

  /** Resumes a paused node: its clock jumps to the present, as a process's does after SIGCONT. */
  resume(id: string): void {
    const n = this.nodes.get(id)!;
    n.paused = false;
    n.clock.advance(this.time.now() - n.clock.now());
  }

  /** Shard -> node per the managers' own view; fails if two nodes hold one shard. */
  ownership(): Map<number, string> {
    const owners = new Map<number, string>();
    for (const [id, n] of this.nodes) {
      for (const h of n.manager.held()) {
        expect(owners.get(h.shard), `shard ${h.shard} held twice`).toBeUndefined();
        owners.set(h.shard, id);
      }
    }
    return owners;
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}

let harness: Harness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

describe("shard manager", () => {
  it("takes every shard on a lone node, with fences matching the lease table", async () => {
    const h = (harness = new Harness());
    const a = await h.add("a");
    expect(a.held().map((s) => s.shard)).toEqual(Array.from({ length: SHARDS }, (_, i) => i));
    const leases = await h.cluster.listLeases();
    for (const l of leases) expect(a.fence(l.shard)).toEqual({ shard: l.shard, epoch: l.epoch });
    // Renewals keep them: no shard is lost over many lease lengths.
    await h.run(4 * LEASE);
    expect(a.held()).toHaveLength(SHARDS);
    expect(h.events.filter((e) => e.kind !== "acquired")).toEqual([]);
  });

  it("hands over only the shards a joining node wins, dropping entities before the release", async () => {
    const h = (harness = new Harness());
    await h.add("a");
    await h.add("b");
    await h.run(3 * HEARTBEAT);
    const owners = h.ownership();
    expect(owners.size).toBe(SHARDS);
    const moved = [...owners].filter(([, n]) => n === "b").map(([s]) => s);
    expect(moved.length).toBeGreaterThan(SHARDS / 4);
    for (const shard of moved) {
      const handover = h.events.findIndex(
        (e) => e.node === "a" && e.kind === "handover" && e.shard === shard,
      );
      const taken = h.events.findIndex(
        (e) => e.node === "b" && e.kind === "acquired" && e.shard === shard,
      );
      expect(handover).toBeGreaterThanOrEqual(0);
      expect(taken).toBeGreaterThan(handover);
    }
    // Nothing else moved and nothing was lost.
    expect(h.events.filter((e) => e.kind === "handover")).toHaveLength(moved.length);
    expect(h.events.filter((e) => e.kind === "lost")).toEqual([]);
  });

  it("moves a stopped node's shards to the others at once, without waiting for expiry", async () => {
    const h = (harness = new Harness());
    const a = await h.add("a");
    await h.add("b");
    await h.run(3 * HEARTBEAT);
    const hadA = a.held().map((s) => s.shard);
    await a.stop();
    expect(h.events.filter((e) => e.node === "a" && e.kind === "stop").map((e) => e.shard)).toEqual(
      hadA,
    );
    expect((await h.cluster.listMembers()).map((m) => m.nodeId)).toEqual(["b"]);
    h.nodes.delete("a");
    await h.run(2 * HEARTBEAT);
    expect(h.ownership().size).toBe(SHARDS);
  });

  it("takes over a paused node's shards once its lease ran out, and the paused node drops them on waking before it rejoins", async () => {
    const h = (harness = new Harness());
    const a = await h.add("a");
    await h.add("b");
    await h.run(3 * HEARTBEAT);
    const hadA = a.held();
    h.nodes.get("a")!.paused = true;
    // b takes nothing while a's leases are valid on the store's clock...
    await h.run(LEASE - 2 * HEARTBEAT);
    expect(h.events.filter((e) => e.node === "b" && e.kind === "acquired")).toHaveLength(
      SHARDS - hadA.length,
    );
    // ...and everything within a lease and a round after a stopped heartbeating.
    await h.run(3 * HEARTBEAT);
    const leases = await h.cluster.listLeases();
    expect(leases.every((l) => l.owner === "b")).toBe(true);
    // a still believes it holds its shards: its fences are the stale ones a write would carry.
    expect(a.held()).toHaveLength(hadA.length);
    h.resume("a");
    await h.run(HEARTBEAT / 5);
    const lost = h.events.filter((e) => e.node === "a" && e.kind === "lost");
    expect(lost.map((e) => e.shard)).toEqual(hadA.map((s) => s.shard));
    // Rejoined: b hands a's share back, each at a newer epoch than the one a lost.
    await h.run(4 * HEARTBEAT);
    const again = h.ownership();
    expect(again.size).toBe(SHARDS);
    for (const s of hadA) {
      expect(again.get(s.shard)).toBe("a");
      expect(a.fence(s.shard)!.epoch).toBeGreaterThan(s.epoch);
    }
  });

  it("never has a shard valid on two nodes at once while nodes join, pause, lose the store and stop", async () => {
    const h = (harness = new Harness());
    const check = (): void => {
      const now = h.time.now();
      const valid = new Map<number, string>();
      for (const [id, n] of h.nodes) {
        // A paused node cannot act; once resumed, its clock catches up and it checks first.
        if (n.paused) continue;
        for (const s of n.manager.held()) {
          if (s.validUntil <= n.clock.now()) continue;
          const other = valid.get(s.shard);
          expect(other, `shard ${s.shard} valid on ${other} and ${id} at ${now}`).toBeUndefined();
          valid.set(s.shard, id);
        }
      }
    };
    await h.add("a");
    await h.add("b");
    for (let i = 0; i < 10; i++) {
      await h.run(HEARTBEAT);
      check();
    }
    h.nodes.get("a")!.paused = true;
    await h.add("c");
    for (let i = 0; i < 12; i++) {
      await h.run(HEARTBEAT);
      check();
    }
    h.resume("a");
    for (let i = 0; i < 8; i++) {
      await h.run(HEARTBEAT / 2);
      check();
    }
    // c loses the store but keeps running: it must drop its shards before others may take them.
    h.cut.add("c");
    for (let i = 0; i < 16; i++) {
      await h.run(HEARTBEAT / 2);
      check();
    }
    expect(h.nodes.get("c")!.manager.held()).toEqual([]);
    h.cut.delete("c");
    for (let i = 0; i < 8; i++) {
      await h.run(HEARTBEAT / 2);
      check();
    }
    await h.nodes.get("b")!.manager.stop();
    h.nodes.delete("b");
    for (let i = 0; i < 6; i++) {
      await h.run(HEARTBEAT);
      check();
    }
    expect(h.ownership().size).toBe(SHARDS);
  });
});
