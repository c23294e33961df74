/**
 * Conformance of shard leases and fencing (docs/decisions/0009), run by
 * describeStoreConformance against every adapter with a cluster store. A
 * durable adapter's tests share one location, so each test uses shards of
 * its own, and a lease's loss is made by its holder renewing it for 0 ms:
 * on the store's clock it is then expired, as if the holder had paused past
 * its lease, while the holder's fence stays what it was.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FencedError } from "../../src/store/cluster.js";
import type { ClusterStore, Fence } from "../../src/store/cluster.js";
import type { StoredCall } from "../../src/store/durable-work.js";
import { SequenceConflictError } from "../../src/store/types.js";
import type { EntityRef, Store, StoredPayload } from "../../src/store/types.js";
import type { ConformanceOptions, MakeStore } from "./conformance.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
const HOUR = 3_600_000;

function payload(text: string): StoredPayload {
  return { typeUrl: "json.cairn.dev/Test", value: enc.encode(text) };
}

function freshRef(): EntityRef {
  return { entityType: `f-${randomUUID().slice(0, 8)}`, entityId: randomUUID().slice(0, 8) };
}

function call(service: string, method: string): StoredCall {
  return { service, method, payload: payload(method), metadata: {} };
}

function node(label: string): string {
  return `${label}-${randomUUID().slice(0, 6)}`;
}

function clusterOf(store: Store): ClusterStore {
  if (store.cluster === undefined) throw new Error(`store ${store.kind} has no cluster store`);
  return store.cluster;
}

/** Takes `shard` for `owner`, failing the test if it is not free. */
async function take(store: Store, owner: string, shard: number, ttl = HOUR): Promise<Fence> {
  const [lease] = await clusterOf(store).acquireLeases(owner, [shard], ttl);
  if (lease === undefined) throw new Error(`shard ${shard} was not free for ${owner}`);
  return { shard, epoch: lease.epoch };
}

/** Lets `owner`'s lease run out now, as if it had paused past it; its fence stays stale. */
async function expire(store: Store, owner: string, fence: Fence): Promise<void> {
  await clusterOf(store).renewLeases(owner, [fence], 0);
}

/** Runs the fencing conformance tests against one adapter. */
export function describeFencingConformance(
  name: string,
  makeStore: MakeStore,
  options: ConformanceOptions,
): void {
  describe(`fencing conformance: ${name}`, () => {
    async function withStore<T>(fn: (s: Store) => Promise<T>): Promise<T> {
      const store = await makeStore();
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    }

    it("has a fixed shard count with one lease per shard", () =>
      withStore(async (store) => {
        const cluster = clusterOf(store);
        expect(cluster.shardCount).toBe(256);
        const leases = await cluster.listLeases();
        expect(leases.map((l) => l.shard)).toEqual(Array.from({ length: 256 }, (_, i) => i));
      }));

    it("acquires free shards at a new epoch, renews unexpired ones, and frees them on release", () =>
      withStore(async (store) => {
        const cluster = clusterOf(store);
        const [a, b] = [node("a"), node("b")];
        const got = await cluster.acquireLeases(a, [1, 2], HOUR);
        expect(got.map((l) => [l.shard, l.owner])).toEqual([
          [1, a],
          [2, a],
        ]);
        // Held shards are skipped, by their holder too.
        expect(await cluster.acquireLeases(b, [1, 2], HOUR)).toEqual([]);
        expect(await cluster.acquireLeases(a, [1], HOUR)).toEqual([]);
        const fences = got.map((l) => ({ shard: l.shard, epoch: l.epoch }));
        const renewed = await cluster.renewLeases(a, fences, 2 * HOUR);
        expect(renewed.map((l) => l.shard)).toEqual([1, 2]);
        expect(renewed[0]!.expiresAt).toBeGreaterThan(got[0]!.expiresAt);
        // Not b's, and not at another epoch.
        expect(await cluster.renewLeases(b, fences, HOUR)).toEqual([]);
        expect(await cluster.renewLeases(a, [{ shard: 1, epoch: 999 }], HOUR)).toEqual([]);
        await cluster.releaseLeases(a, fences.slice(0, 1));
        const next = await cluster.acquireLeases(b, [1, 2], HOUR);
        expect(next.map((l) => [l.shard, l.owner, l.epoch])).toEqual([[1, b, got[0]!.epoch + 1]]);
        // An expired lease cannot be renewed: its holder must acquire it again, at a new epoch.
        await expire(store, a, fences[1]!);
        expect(await cluster.renewLeases(a, fences.slice(1), HOUR)).toEqual([]);
        const again = await cluster.acquireLeases(a, [2], HOUR);
        expect(again.map((l) => l.epoch)).toEqual([fences[1]!.epoch + 1]);
      }));

    it("commits writes whose fence holds and refuses every kind of write once the lease moved, storing none of it", () =>
      withStore(async (store) => {
        const [a, b] = [node("a"), node("b")];
        const ref = freshRef();
        const svc = `fence.${randomUUID().slice(0, 8)}`;
        const owner = `${svc}/o`;
        const fenceA = await take(store, a, 3);
        await store.append({
          ...ref,
          expectedSequence: 0,
          events: [payload("a1")],
          outbox: [call(svc, "A1")],
          fence: fenceA,
        });
        await store.saveValue({ ...ref, expectedVersion: 0, state: payload("v1"), fence: fenceA });
        await expire(store, a, fenceA);
        const fenceB = await take(store, b, 3);
        expect(fenceB.epoch).toBeGreaterThan(fenceA.epoch);
        const [entry] = (await store.loadOutbox(Date.now(), 10, [3])).filter(
          (e) => e.service === svc,
        );
        const stale: [string, Promise<unknown>][] = [
          [
            "append",
            store.append({
              ...ref,
              expectedSequence: 1,
              events: [payload("a2")],
              outbox: [call(svc, "A2")],
              fence: fenceA,
            }),
          ],
          [
            "work-only append",
            store.append({ ...ref, expectedSequence: 1, events: [], fence: fenceA }),
          ],
          [
            "value",
            store.saveValue({ ...ref, expectedVersion: 1, state: payload("v2"), fence: fenceA }),
          ],
          [
            "work",
            store.writeWork({
              outbox: [call(svc, "W")],
              timers: [{ kind: "schedule", owner, name: "t", dueAt: 1, call: call(svc, "T") }],
              fence: fenceA,
            }),
          ],
          ["completeOutbox", store.completeOutbox(entry!.id, fenceA)],
        ];
        for (const [what, write] of stale) {
          await expect(write, what).rejects.toBeInstanceOf(FencedError);
        }
        await expect(stale[0]![1]).rejects.toThrow(
          new RegExp(`shard 3 at epoch ${fenceA.epoch}.*epoch ${fenceB.epoch} held by ${b}`),
        );
        expect((await store.loadEvents(ref, 0)).map((e) => dec.decode(e.payload.value))).toEqual([
          "a1",
        ]);
        expect((await store.loadValue(ref))?.version).toBe(1);
        expect(await store.listTimers(owner)).toEqual([]);
        const outbox = (await store.loadOutbox(Date.now(), 100)).filter((e) => e.service === svc);
        expect(outbox.map((e) => [e.method, e.shard])).toEqual([["A1", 3]]);
        // The new owner writes on from what was committed.
        await store.append({ ...ref, expectedSequence: 1, events: [payload("b1")], fence: fenceB });
        await store.completeOutbox(entry!.id, fenceB);
        expect(await store.loadOutbox(Date.now(), 10, [3])).toEqual([]);
      }));

    it("refuses a write whose lease expired even if no one took it, and one holding a released lease", () =>
      withStore(async (store) => {
        const a = node("a");
        const ref = freshRef();
        const expired = await take(store, a, 4);
        await expire(store, a, expired);
        await expect(
          store.append({ ...ref, expectedSequence: 0, events: [payload("x")], fence: expired }),
        ).rejects.toBeInstanceOf(FencedError);
        const released = await take(store, a, 4);
        await clusterOf(store).releaseLeases(a, [released]);
        await expect(
          store.saveValue({ ...ref, expectedVersion: 0, state: payload("x"), fence: released }),
        ).rejects.toThrow(/shard 4 .*released/);
        await expect(
          store.append({
            ...ref,
            expectedSequence: 0,
            events: [payload("x")],
            fence: { shard: 100_000, epoch: 1 },
          }),
        ).rejects.toThrow(/no shard 100000/);
        expect(await store.lastSequence(ref)).toBe(0);
      }));

    it("fails a fenced write alone in its batch", () =>
      withStore(async (store) => {
        const [a, b] = [node("a"), node("b")];
        const stale = await take(store, a, 5);
        await expire(store, a, stale);
        const fresh = await take(store, b, 5);
        const refs = [freshRef(), freshRef(), freshRef()];
        const results = await Promise.allSettled([
          store.append({ ...refs[0]!, expectedSequence: 0, events: [payload("s")], fence: stale }),
          store.append({ ...refs[1]!, expectedSequence: 0, events: [payload("f")], fence: fresh }),
          store.append({ ...refs[2]!, expectedSequence: 0, events: [payload("u")] }),
        ]);
        expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
        expect(await Promise.all(refs.map((r) => store.lastSequence(r)))).toEqual([0, 1, 1]);
      }));

    it("stores work in the shard of its write's fence and reads it per shard", () =>
      withStore(async (store) => {
        const a = node("a");
        const svc = `shards.${randomUUID().slice(0, 8)}`;
        const owner = `${svc}/o`;
        const f6 = await take(store, a, 6);
        const f7 = await take(store, a, 7);
        const due = 5;
        await store.append({
          ...freshRef(),
          expectedSequence: 0,
          events: [payload("e")],
          outbox: [call(svc, "E6")],
          timers: [{ kind: "schedule", owner, name: "t6", dueAt: due, call: call(svc, "T6") }],
          fence: f6,
        });
        await store.writeWork({
          outbox: [call(svc, "W7")],
          timers: [{ kind: "schedule", owner, name: "t7", dueAt: due + 1, call: call(svc, "T7") }],
          fence: f7,
        });
        const methods = async (shards: number[]) =>
          (await store.loadOutbox(Date.now(), 100, shards))
            .filter((e) => e.service === svc)
            .map((e) => e.method);
        expect(await methods([6])).toEqual(["E6"]);
        expect(await methods([7])).toEqual(["W7"]);
        expect(await methods([6, 7])).toEqual(["E6", "W7"]);
        expect(await methods([8])).toEqual([]);
        const timers = async (shards: number[]) =>
          (await store.loadDueTimers(Date.now(), 100, shards))
            .filter((t) => t.owner === owner)
            .map((t) => [t.name, t.shard]);
        expect(await timers([6])).toEqual([["t6", 6]]);
        expect(await timers([7, 8])).toEqual([["t7", 7]]);
        expect(await store.nextTimerDue([7])).toBe(due + 1);
        expect(await store.nextTimerDue([8])).toBeUndefined();
        // Rescheduling moves a timer to the shard of the write that did it.
        await store.writeWork({
          timers: [{ kind: "schedule", owner, name: "t6", dueAt: due, call: call(svc, "T6") }],
          fence: f7,
        });
        expect(await timers([7])).toEqual([
          ["t6", 7],
          ["t7", 7],
        ]);
      }));

    it("registers members, refreshes their heartbeat, and forgets one that leaves", () =>
      withStore(async (store) => {
        const cluster = clusterOf(store);
        const [a, b] = [node("m-a"), node("m-b")];
        await cluster.heartbeat(a, "127.0.0.1:9001");
        await cluster.heartbeat(b, "127.0.0.1:9002");
        const first = (await cluster.listMembers()).find((m) => m.nodeId === a)!;
        expect(first.address).toBe("127.0.0.1:9001");
        expect(first.ageMs).toBeGreaterThanOrEqual(0);
        await cluster.heartbeat(a, "127.0.0.1:9011");
        const mine = (await cluster.listMembers()).filter((m) => m.nodeId === a || m.nodeId === b);
        expect(mine.map((m) => [m.nodeId, m.address])).toEqual([
          [a, "127.0.0.1:9011"],
          [b, "127.0.0.1:9002"],
        ]);
        expect(mine[0]!.joinedAt).toBe(first.joinedAt);
        expect(mine[0]!.heartbeatAt).toBeGreaterThanOrEqual(first.heartbeatAt);
        await cluster.leave(a);
        const left = (await cluster.listMembers()).map((m) => m.nodeId);
        expect(left).toContain(b);
        expect(left).not.toContain(a);
        await cluster.leave(b);
      }));

    it("never commits a stale writer after a newer epoch wrote, whatever the interleaving (property)", () =>
      withStore((store) =>
        fc.assert(fencingProperty(store, 9), { numRuns: options.propertyRuns ?? 30 }),
      ));
  });
}

/**
 * Two nodes take one shard from each other (the loser keeps its stale
 * fence) and write one entity, some steps at once. Every write reads the
 * entity's latest sequence first, so only the fence can stop a stale one.
 * Checks: the journal has no gaps and its epochs never go down (a stale
 * writer never commits after a newer epoch wrote); a write in a round of its
 * own succeeds exactly when its node holds the newest lease, and otherwise
 * fails as fenced.
 */
function fencingProperty(store: Store, shard: number) {
  const step = fc.oneof(
    fc.record({
      kind: fc.constant("takeover" as const),
      by: fc.constantFrom(0 as const, 1 as const),
    }),
    fc.record({ kind: fc.constant("write" as const), by: fc.constantFrom(0 as const, 1 as const) }),
  );
  const rounds = fc.array(fc.array(step, { minLength: 1, maxLength: 3 }), {
    minLength: 1,
    maxLength: 8,
  });
  return fc.asyncProperty(rounds, async (plan) => {
    const ref = freshRef();
    const nodes = [node("p0"), node("p1")] as const;
    const fences: (Fence | undefined)[] = [undefined, undefined];
    let newest = -1;
    /** A takeover: the current holder's lease runs out under it, then `by` takes the shard. */
    const takeover = async (by: 0 | 1): Promise<void> => {
      const cluster = clusterOf(store);
      const current = (await cluster.listLeases())[shard]!;
      if (current.owner !== undefined) {
        await cluster.renewLeases(current.owner, [{ shard, epoch: current.epoch }], 0);
      }
      // Two takeovers of one round race: the loser gets nothing and keeps its old fence.
      const [lease] = await cluster.acquireLeases(nodes[by], [shard], HOUR);
      if (lease === undefined) return;
      fences[by] = { shard, epoch: lease.epoch };
      newest = lease.epoch;
    };
    const write = async (by: 0 | 1): Promise<"ok" | "fenced" | "conflict" | "none"> => {
      const fence = fences[by];
      if (fence === undefined) return "none";
      const last = await store.lastSequence(ref);
      try {
        await store.append({
          ...ref,
          expectedSequence: last,
          events: [payload(String(fence.epoch))],
          fence,
        });
        return "ok";
      } catch (err) {
        if (err instanceof FencedError) return "fenced";
        if (err instanceof SequenceConflictError) return "conflict";
        throw err;
      }
    };
    try {
      for (const round of plan) {
        const alone = round.length === 1 ? round[0] : undefined;
        const holds = alone && fences[alone.by]?.epoch === newest;
        const results = await Promise.all(
          round.map((s) => (s.kind === "takeover" ? takeover(s.by) : write(s.by))),
        );
        if (alone?.kind === "write" && results[0] !== "none") {
          expect(results[0]).toBe(holds ? "ok" : "fenced");
        }
      }
      const epochs = (await store.loadEvents(ref, 0)).map((e) =>
        Number(dec.decode(e.payload.value)),
      );
      const sequences = (await store.loadEvents(ref, 0)).map((e) => e.sequence);
      expect(sequences).toEqual(sequences.map((_, i) => i + 1));
      expect([...epochs].sort((x, y) => x - y)).toEqual(epochs);
    } finally {
      // Leave the shard free for the next run.
      const current = (await clusterOf(store).listLeases())[shard]!;
      if (current.owner !== undefined) {
        await clusterOf(store).releaseLeases(current.owner, [{ shard, epoch: current.epoch }]);
      }
    }
  });
}
