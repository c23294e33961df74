import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { rendezvousOwners, shardOf } from "../../src/cluster/shards.js";

describe("shardOf", () => {
  it("is stable: these values are part of the stored format", () => {
    // Changing the hash moves every entity of every existing cluster; these must never change.
    const golden = [
      shardOf({ entityType: "shop.Cart", entityId: "c1" }, 256),
      shardOf({ entityType: "shop.Cart", entityId: "c2" }, 256),
      shardOf({ entityType: "usersession.v1.UserSession", entityId: "s1" }, 256),
      shardOf({ entityType: "shop.Cart", entityId: "ü" }, 16),
    ];
    expect(golden).toEqual(GOLDEN);
  });

  it("keeps the type in the hash, so one id of two types may live apart", () => {
    const ids = Array.from({ length: 64 }, (_, i) => `id-${i}`);
    const differ = ids.filter(
      (id) =>
        shardOf({ entityType: "a", entityId: id }, 256) !==
        shardOf({ entityType: "b", entityId: id }, 256),
    );
    expect(differ.length).toBeGreaterThan(50);
  });

  it("spreads similar ids evenly over the shards", () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 25_600; i++) {
      counts[shardOf({ entityType: "shop.Cart", entityId: `cart-${i}` }, 256)]! += 1;
    }
    // 100 per shard expected; a fair hash keeps every shard well within 50..160.
    expect(Math.min(...counts)).toBeGreaterThan(50);
    expect(Math.max(...counts)).toBeLessThan(160);
  });
});

describe("rendezvousOwners", () => {
  const nodes = (n: number) => Array.from({ length: n }, (_, i) => `node-${i}`);

  it("gives every shard one owner, the same whatever the member order", () => {
    const a = rendezvousOwners(["n1", "n2", "n3"], 64);
    const b = rendezvousOwners(["n3", "n1", "n2"], 64);
    expect(a.size).toBe(64);
    expect([...a]).toEqual([...b]);
    expect(rendezvousOwners([], 64).size).toBe(0);
  });

  it("moves only the shards a joining member wins, and only a leaving member's shards (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 128 }), (n, shards) => {
        const before = rendezvousOwners(nodes(n), shards);
        const after = rendezvousOwners(nodes(n + 1), shards);
        for (const [shard, owner] of after) {
          if (owner !== before.get(shard)) expect(owner).toBe(`node-${n}`);
        }
        const left = rendezvousOwners(
          nodes(n + 1).filter((m) => m !== "node-0"),
          shards,
        );
        for (const [shard, owner] of rendezvousOwners(nodes(n + 1), shards)) {
          if (owner !== "node-0") expect(left.get(shard)).toBe(owner);
        }
      }),
      { numRuns: 50 },
    );
  });

  it("balances 256 shards over three members", () => {
    const counts = new Map<string, number>();
    for (const owner of rendezvousOwners(nodes(3), 256).values()) {
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    for (const c of counts.values()) expect(c).toBeGreaterThan(60);
  });
});

/** Recorded when the hash was chosen (FNV-1a 32 with the murmur3 finaliser). */
const GOLDEN = [50, 157, 181, 6];
