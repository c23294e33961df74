/**
 * The store conformance suite: every adapter must pass it. A test file calls
 * {@link describeStoreConformance} with a factory that opens a store over the
 * file's one location (same data on every call for durable adapters), so
 * "reopen" means calling the factory again. Tests keep apart by using their
 * own entity types.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SequenceConflictError } from "../../src/store/types.js";
import type { EntityRef, Store, StoredPayload, StoreOptions } from "../../src/store/types.js";
import { describeFencingConformance } from "./conformance-fencing.js";
import { describeIdempotencyConformance } from "./conformance-idempotency.js";
import { describeDurableWorkConformance } from "./conformance-work.js";

/** Opens a store over the test file's location. */
export type MakeStore = (options?: StoreOptions) => Promise<Store>;

/** What the suite may assume about an adapter. */
export interface ConformanceOptions {
  /** Data survives close and a new Store instance (sqlite, postgres). */
  readonly durable: boolean;
  /** fast-check runs of the two-writer property (default 30). */
  readonly propertyRuns?: number;
  /** The adapter has a cluster store (shard leases and fencing). */
  readonly fencing?: boolean;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A JSON-ish payload whose text is `text`. */
export function payload(text: string): StoredPayload {
  return { typeUrl: "json.cairn.dev/Test", value: enc.encode(text) };
}

/** The payload's text; undefined for no payload (keeps expectations free of `!`). */
function text(p: StoredPayload | undefined): string | undefined {
  return p && dec.decode(p.value);
}

/** A fresh entity of a fresh type, so tests sharing one store never meet. */
export function freshRef(label = "e"): EntityRef {
  return {
    entityType: `t-${randomUUID().slice(0, 8)}`,
    entityId: `${label}-${randomUUID().slice(0, 8)}`,
  };
}

/** Runs the conformance suite against one adapter. */
export function describeStoreConformance(
  name: string,
  makeStore: MakeStore,
  options: ConformanceOptions,
): void {
  describe(`store conformance: ${name}`, () => {
    async function withStore<T>(fn: (s: Store) => Promise<T>, o?: StoreOptions): Promise<T> {
      const store = await makeStore(o);
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    }

    it("appends events in order and loads them after a sequence", () =>
      withStore(async (store) => {
        const ref = freshRef();
        expect(await store.lastSequence(ref)).toBe(0);
        expect(await store.loadEvents(ref, 0)).toEqual([]);
        const before = Date.now();
        expect(
          await store.append({ ...ref, expectedSequence: 0, events: ["a", "b", "c"].map(payload) }),
        ).toEqual({ sequence: 3 });
        expect(
          await store.append({ ...ref, expectedSequence: 3, events: ["d", "e"].map(payload) }),
        ).toEqual({ sequence: 5 });
        const all = await store.loadEvents(ref, 0);
        expect(all.map((e) => [e.sequence, text(e.payload)])).toEqual([
          [1, "a"],
          [2, "b"],
          [3, "c"],
          [4, "d"],
          [5, "e"],
        ]);
        expect(all.at(0)?.payload.typeUrl).toBe("json.cairn.dev/Test");
        const offsets = all.map((e) => e.offset);
        expect([...offsets].sort((a, b) => a - b)).toEqual(offsets);
        expect(new Set(offsets).size).toBe(offsets.length);
        expect(all.at(0)?.timestamp).toBeGreaterThanOrEqual(before - 1000);
        expect((await store.loadEvents(ref, 3)).map((e) => e.sequence)).toEqual([4, 5]);
        expect(await store.lastSequence(ref)).toBe(5);
        const journal = await store.readJournal(all.at(1)?.offset ?? 0, 2);
        expect(journal.map((e) => [e.entityType, e.entityId, e.sequence])).toEqual([
          [ref.entityType, ref.entityId, 3],
          [ref.entityType, ref.entityId, 4],
        ]);
      }));

    it("fails a conflicting append with SequenceConflictError and writes none of it", () =>
      withStore(async (store) => {
        const ref = freshRef();
        await store.append({ ...ref, expectedSequence: 0, events: ["a", "b", "c"].map(payload) });
        const stale = store.append({
          ...ref,
          expectedSequence: 2,
          events: ["x", "y", "z"].map(payload),
        });
        await expect(stale).rejects.toBeInstanceOf(SequenceConflictError);
        await expect(stale).rejects.toMatchObject({ ref: { entityId: ref.entityId }, expected: 2 });
        const events = await store.loadEvents(ref, 0);
        expect(events.map((e) => text(e.payload))).toEqual(["a", "b", "c"]);
      }));

    it("keeps a conflict from failing the other writes of its batch", () =>
      withStore(async (store) => {
        const [a, b, c, v] = [freshRef("a"), freshRef("b"), freshRef("c"), freshRef("v")];
        await store.append({ ...a, expectedSequence: 0, events: [payload("a1")] });
        // Issued in one tick, so they share a group commit.
        const results = await Promise.allSettled([
          store.append({ ...b, expectedSequence: 0, events: [payload("b1")] }),
          store.append({ ...a, expectedSequence: 0, events: [payload("stale")] }),
          store.saveValue({ ...v, expectedVersion: 3, state: payload("stale") }),
          store.append({ ...c, expectedSequence: 0, events: [payload("c1")] }),
          store.saveValue({ ...v, expectedVersion: 0, state: payload("v1") }),
        ]);
        expect(results.map((r) => r.status)).toEqual([
          "fulfilled",
          "rejected",
          "rejected",
          "fulfilled",
          "fulfilled",
        ]);
        expect((await store.loadEvents(b, 0)).map((e) => text(e.payload))).toEqual(["b1"]);
        expect((await store.loadEvents(c, 0)).map((e) => text(e.payload))).toEqual(["c1"]);
        expect((await store.loadEvents(a, 0)).map((e) => text(e.payload))).toEqual(["a1"]);
        expect((await store.loadValue(v))?.version).toBe(1);
      }));

    it("stores a snapshot with the last event and loads the events after it", () =>
      withStore(async (store) => {
        const ref = freshRef();
        expect(await store.loadSnapshot(ref)).toBeUndefined();
        await store.append({
          ...ref,
          expectedSequence: 0,
          events: ["a", "b"].map(payload),
          snapshot: payload("s2"),
        });
        await store.append({ ...ref, expectedSequence: 2, events: ["c"].map(payload) });
        const snapshot = await store.loadSnapshot(ref);
        expect(snapshot?.sequence).toBe(2);
        expect(text(snapshot?.state)).toBe("s2");
        expect(
          (await store.loadEvents(ref, snapshot?.sequence ?? 0)).map((e) => text(e.payload)),
        ).toEqual(["c"]);
        await store.append({
          ...ref,
          expectedSequence: 3,
          events: [payload("d")],
          snapshot: payload("s4"),
        });
        expect((await store.loadSnapshot(ref))?.sequence).toBe(4);
      }));

    it("saves, versions, conflicts and deletes values", () =>
      withStore(async (store) => {
        const ref = freshRef();
        expect(await store.loadValue(ref)).toBeUndefined();
        expect(await store.saveValue({ ...ref, expectedVersion: 0, state: payload("v1") })).toBe(1);
        expect(await store.saveValue({ ...ref, expectedVersion: 1, state: payload("v2") })).toBe(2);
        await expect(
          store.saveValue({ ...ref, expectedVersion: 1, state: payload("lost") }),
        ).rejects.toBeInstanceOf(SequenceConflictError);
        await expect(
          store.saveValue({ ...ref, expectedVersion: 0, state: payload("lost") }),
        ).rejects.toBeInstanceOf(SequenceConflictError);
        await expect(
          store.saveValue({ ...ref, expectedVersion: 0, state: undefined }),
        ).rejects.toBeInstanceOf(SequenceConflictError);
        const value = await store.loadValue(ref);
        expect(value?.version).toBe(2);
        expect(text(value?.state)).toBe("v2");
        expect(await store.saveValue({ ...ref, expectedVersion: 2, state: undefined })).toBe(0);
        expect(await store.loadValue(ref)).toBeUndefined();
        expect(await store.saveValue({ ...ref, expectedVersion: 0, state: undefined })).toBe(0);
        expect(await store.saveValue({ ...ref, expectedVersion: 0, state: payload("again") })).toBe(
          1,
        );
      }));

    it("rejects malformed writes with a message naming the entity", () =>
      withStore(async (store) => {
        const ref = freshRef();
        await expect(
          store.append({ ...ref, expectedSequence: -1, events: [payload("x")] }),
        ).rejects.toThrow(/non-negative/);
        await expect(
          store.saveValue({ ...ref, expectedVersion: 1.5, state: payload("x") }),
        ).rejects.toThrow(ref.entityId);
        expect(await store.lastSequence(ref)).toBe(0);
      }));

    it("group-commits many concurrent appends across entities, in order per entity", async () => {
      const batches: number[] = [];
      await withStore(
        async (store) => {
          const first = freshRef("m0");
          const refs = [first, ...Array.from({ length: 299 }, (_, i) => freshRef(`m${i + 1}`))];
          const results = await Promise.all([
            ...refs.map((r) =>
              store.append({ ...r, expectedSequence: 0, events: [payload(`${r.entityId}:1`)] }),
            ),
            // A second append of one entity, issued in the same tick: lands after the first.
            store.append({ ...first, expectedSequence: 1, events: [payload("second")] }),
          ]);
          expect(results.at(-1)).toEqual({ sequence: 2 });
          for (const r of refs.slice(0, 20))
            expect(await store.lastSequence(r)).toBe(r === first ? 2 : 1);
          expect((await store.loadEvents(first, 0)).map((e) => text(e.payload))).toEqual([
            `${first.entityId}:1`,
            "second",
          ]);
        },
        { metrics: { storeCommit: (_s, size) => batches.push(size) } },
      );
      expect(Math.max(...batches)).toBeGreaterThan(100);
    });

    it("waits for pending writes on close", async () => {
      const ref = freshRef();
      const store = await makeStore();
      const pending = store.append({ ...ref, expectedSequence: 0, events: [payload("late")] });
      await store.close();
      await expect(pending).resolves.toEqual({ sequence: 1 });
      await expect(
        store.append({ ...ref, expectedSequence: 1, events: [payload("after")] }),
      ).rejects.toThrow(/closed/);
    });

    it("splits a batch of big payloads over several commits, all landing", async () => {
      const batches: number[] = [];
      await withStore(
        async (store) => {
          const big = {
            typeUrl: "type.googleapis.com/test.Big",
            value: new Uint8Array(1024 * 1024),
          };
          const refs = Array.from({ length: 40 }, (_, i) => freshRef(`big${i}`));
          await Promise.all(
            refs.map((r) => store.append({ ...r, expectedSequence: 0, events: [big] })),
          );
          for (const r of refs.slice(0, 5)) expect(await store.lastSequence(r)).toBe(1);
        },
        { metrics: { storeCommit: (_s, size) => batches.push(size) } },
      );
      expect(batches.length).toBeGreaterThan(1);
      expect(Math.max(...batches)).toBeLessThanOrEqual(17);
    });

    it("stores and loads 1 MiB payloads", () =>
      withStore(async (store) => {
        const ref = freshRef();
        const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) % 251);
        const p = { typeUrl: "type.googleapis.com/test.Big", value: big };
        await store.append({ ...ref, expectedSequence: 0, events: [p, p], snapshot: p });
        await store.saveValue({ ...ref, expectedVersion: 0, state: p });
        const events = await store.loadEvents(ref, 0);
        expect(events).toHaveLength(2);
        expect(
          Buffer.compare(Buffer.from(events.at(1)?.payload.value ?? []), Buffer.from(big)),
        ).toBe(0);
        expect((await store.loadSnapshot(ref))?.state.value.byteLength).toBe(big.byteLength);
        expect(
          Buffer.compare(
            Buffer.from((await store.loadValue(ref))?.state.value ?? []),
            Buffer.from(big),
          ),
        ).toBe(0);
      }));

    it.runIf(options.durable)("keeps everything across close and reopen", async () => {
      const ref = freshRef();
      await withStore(async (store) => {
        await store.append({
          ...ref,
          expectedSequence: 0,
          events: ["a", "b"].map(payload),
          snapshot: payload("s"),
        });
        await store.saveValue({ ...ref, expectedVersion: 0, state: payload("v") });
      });
      await withStore(async (store) => {
        expect((await store.loadEvents(ref, 0)).map((e) => text(e.payload))).toEqual(["a", "b"]);
        expect((await store.loadSnapshot(ref))?.sequence).toBe(2);
        expect((await store.loadValue(ref))?.version).toBe(1);
        expect(await store.append({ ...ref, expectedSequence: 2, events: [payload("c")] })).toEqual(
          { sequence: 3 },
        );
      });
    });

    it("never yields gaps or duplicates when two writers race on one entity (property)", () =>
      withStore((store) =>
        fc.assert(twoWriterProperty(store), { numRuns: options.propertyRuns ?? 30 }),
      ));
  });
  describeDurableWorkConformance(name, makeStore, options);
  if (options.fencing === true) describeFencingConformance(name, makeStore, options);
  describeIdempotencyConformance(name, makeStore, options);
}

/** Two writers append to one entity, each from its own view, re-reading on conflict. */
function twoWriterProperty(store: Store) {
  const plan = fc.array(
    fc.record({ events: fc.integer({ min: 1, max: 3 }), pause: fc.integer({ min: 0, max: 2 }) }),
    { maxLength: 8 },
  );
  return fc.asyncProperty(plan, plan, async (planA, planB) => {
    const ref = freshRef("race");
    const accepted: { expected: number; texts: string[] }[] = [];
    const writer = async (name: string, steps: { events: number; pause: number }[]) => {
      let seen = 0;
      for (const [i, step] of steps.entries()) {
        for (let p = 0; p < step.pause; p++) await new Promise((r) => setImmediate(r));
        const texts = Array.from({ length: step.events }, (_, k) => `${name}${i}.${k}`);
        try {
          const r = await store.append({
            ...ref,
            expectedSequence: seen,
            events: texts.map(payload),
          });
          accepted.push({ expected: seen, texts });
          seen = r.sequence;
        } catch (err) {
          if (!(err instanceof SequenceConflictError)) throw err;
          seen = await store.lastSequence(ref);
        }
      }
    };
    await Promise.all([writer("a", planA), writer("b", planB)]);
    const journal = await store.loadEvents(ref, 0);
    expect(journal.map((e) => e.sequence)).toEqual(journal.map((_, i) => i + 1));
    const expected = accepted.sort((x, y) => x.expected - y.expected).flatMap((a) => a.texts);
    expect(journal.map((e) => text(e.payload))).toEqual(expected);
  });
}
