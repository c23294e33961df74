import { describe, expect, it } from "vitest";
import { GSet, ORSet, PNCounter } from "@cairn/crdt";
import { Code } from "@cairn/protocol";
import type { ReplicatedDelta } from "@cairn/protocol";
import { Replicas } from "../../src/host/replicated/replicas.js";
import { createMemoryStore } from "../../src/store/index.js";

const ref = { entityType: "likes", entityId: "p1" };
const counter = { crdtType: "PNCounter", durable: true };
const delta = (type: string, encoded: Uint8Array): ReplicatedDelta => ({
  $typeName: "cairn.protocol.v1.ReplicatedDelta",
  type,
  encoded,
});

describe("the node's replicas", () => {
  it("stores a durable replica with its replica id and loads it back in a new process", async () => {
    const store = createMemoryStore();
    const first = new Replicas(store, "r-first");
    const replica = await first.load(ref, counter);
    expect(replica.replicaId).toBe("r-first");
    const fn = new PNCounter(replica.replicaId);
    fn.increment(4);
    const d = delta("PNCounter", fn.takeDelta()!);
    expect(first.check(replica, d)).toBeUndefined();
    first.merge(replica, d);
    expect(await first.save(replica, false, {})).toBe(1);
    // Another process: a new replica id for fresh replicas, the stored one for this.
    const second = new Replicas(store, "r-second");
    const loaded = await second.load(ref, counter);
    expect(loaded.replicaId).toBe("r-first");
    expect(loaded.crdt.value).toBe(4);
    const fresh = await second.load({ entityType: "likes", entityId: "p2" }, counter);
    expect(fresh.replicaId).toBe("r-second");
  });

  it("refuses a delta of another CRDT type, by label or by bytes, and merges nothing", async () => {
    const replicas = new Replicas(createMemoryStore(), "r-1");
    const replica = await replicas.load(ref, counter);
    const set = new GSet<string>("r-1");
    set.add("x");
    const bytes = set.takeDelta()!;
    const byLabel = replicas.check(replica, delta("GSet", bytes));
    expect(byLabel?.code).toBe(Code.Internal);
    expect(byLabel?.message).toBe(
      "delta of the wrong CRDT type for replicated entity likes/p1: the entity's type is PNCounter, the delta says GSet; nothing was merged",
    );
    expect(replicas.check(replica, delta("PNCounter", bytes))?.message).toContain(
      "the delta's bytes are a GSet",
    );
    expect(replicas.check(replica, delta("PNCounter", new Uint8Array([1, 1])))?.message).toMatch(
      /unusable delta for replicated entity likes\/p1 \(malformed\)/,
    );
    expect(replica.crdt.value).toBe(0);
  });

  it("refuses writes under another replica id from the function, and under ours from a peer", async () => {
    const replicas = new Replicas(createMemoryStore(), "r-me");
    const replica = await replicas.load(ref, { crdtType: "ORSet", durable: false });
    const intruder = new ORSet<string>("someone-else");
    intruder.add("a");
    const foreign = delta("ORSet", intruder.takeDelta()!);
    expect(replicas.check(replica, foreign)?.message).toBe(
      "replica id clash on replicated entity likes/p1: a delta from the user function (given replica id 'r-me') carries new writes under replica id 'someone-else'; a replica writes only under its own id; nothing was merged",
    );
    // From a peer, writes of its own are fine; writes under our id are not.
    expect(replicas.check(replica, foreign, "node-2")).toBeUndefined();
    const impostor = new ORSet<string>("r-me");
    impostor.add("b");
    const clash = replicas.check(replica, delta("ORSet", impostor.takeDelta()!), "node-2");
    expect(clash?.code).toBe(Code.InvalidArgument);
    expect(clash?.message).toContain(
      "a delta from node 'node-2' carries new writes under replica id 'r-me'",
    );
    expect(replica.crdt.value).toEqual([]);
  });

  it("keeps a written memory-only replica on passivation and forgets durable or empty ones", async () => {
    const replicas = new Replicas(createMemoryStore(), "r-1");
    const memoryOnly = await replicas.load(ref, { crdtType: "PNCounter", durable: false });
    const fn = new PNCounter("r-1");
    fn.increment();
    replicas.merge(memoryOnly, delta("PNCounter", fn.takeDelta()!));
    replicas.evict(ref);
    expect(replicas.peek(ref)).toBe(memoryOnly);
    replicas.clear(memoryOnly);
    replicas.evict(ref);
    expect(replicas.peek(ref)).toBeUndefined();
    await replicas.load(ref, counter);
    replicas.evict(ref);
    expect(replicas.size).toBe(0);
  });
});
