/**
 * Conformance of idempotency records, run by describeStoreConformance
 * against every adapter: a record commits with its write or not at all, the
 * first record of a key stands, an instance keeps a bounded number, and
 * expiry removes old ones. Tests keep apart by their own entity types.
 */
import { randomUUID } from "node:crypto";
import { CairnError, Code } from "@cairn/protocol";
import { describe, expect, it } from "vitest";
import type { IdempotencyWrite } from "../../src/store/idempotency.js";
import { SequenceConflictError } from "../../src/store/types.js";
import type { EntityRef, Store, StoredPayload, StoreOptions } from "../../src/store/types.js";
import type { ConformanceOptions, MakeStore } from "./conformance.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

function payload(text: string): StoredPayload {
  return { typeUrl: "json.cairn.dev/Test", value: enc.encode(text) };
}

/** A fresh entity of a fresh type (as conformance.ts's freshRef; kept here to avoid an import cycle). */
function freshRef(label = "e"): EntityRef {
  return {
    entityType: `t-${randomUUID().slice(0, 8)}`,
    entityId: `${label}-${randomUUID().slice(0, 8)}`,
  };
}

/** A record of `ref` whose outcome text is `answer`. */
function record(ref: EntityRef, key: string, answer: string, hash = `h-${key}`): IdempotencyWrite {
  return {
    ...ref,
    key,
    requestHash: hash,
    outcome: { typeUrl: "cairn.test/Outcome", value: enc.encode(answer) },
  };
}

/** The stored outcome text of `key`, undefined when no record is kept. */
async function answer(store: Store, ref: EntityRef, key: string): Promise<string | undefined> {
  const r = await store.loadIdempotency(ref, key);
  return r && dec.decode(r.outcome.value);
}

/** Runs the idempotency conformance tests against one adapter. */
export function describeIdempotencyConformance(
  name: string,
  makeStore: MakeStore,
  options: ConformanceOptions,
): void {
  describe(`idempotency conformance: ${name}`, () => {
    async function withStore<T>(fn: (s: Store) => Promise<T>, o?: StoreOptions): Promise<T> {
      const store = await makeStore(o);
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    }

    it("stores a record with an append, a value write and work alone, each for its instance", () =>
      withStore(async (store) => {
        const [es, ve, action] = [
          freshRef("es"),
          freshRef("ve"),
          { entityType: `a-${randomUUID().slice(0, 8)}`, entityId: "" },
        ];
        const before = Date.now();
        await store.append({
          ...es,
          expectedSequence: 0,
          events: [payload("e1")],
          idempotency: [record(es, "k1", "appended")],
        });
        await store.saveValue({
          ...ve,
          expectedVersion: 0,
          state: payload("v1"),
          idempotency: [record(ve, "k1", "saved")],
        });
        await store.writeWork({ idempotency: [record(action, "k1", "failed")] });
        expect(await answer(store, es, "k1")).toBe("appended");
        expect(await answer(store, ve, "k1")).toBe("saved");
        expect(await answer(store, action, "k1")).toBe("failed");
        const full = await store.loadIdempotency(es, "k1");
        expect(full).toMatchObject({
          ...es,
          key: "k1",
          requestHash: "h-k1",
          outcome: { typeUrl: "cairn.test/Outcome" },
        });
        expect(full?.createdAt).toBeGreaterThanOrEqual(before - 1000);
        expect(full?.createdAt).toBeLessThanOrEqual(Date.now() + 1000);
        // Scoped by instance and key.
        expect(await store.loadIdempotency(es, "k2")).toBeUndefined();
        expect(
          await store.loadIdempotency({ ...es, entityId: `${es.entityId}-other` }, "k1"),
        ).toBeUndefined();
      }));

    it("stores none of a conflicting write's records, and its batch neighbours' all", () =>
      withStore(async (store) => {
        const [a, v, n] = [freshRef("a"), freshRef("v"), freshRef("n")];
        await store.append({ ...a, expectedSequence: 0, events: [payload("a1")] });
        await store.saveValue({ ...v, expectedVersion: 0, state: payload("v1") });
        // Issued in one tick, so they share a group commit.
        const results = await Promise.allSettled([
          store.append({
            ...a,
            expectedSequence: 0,
            events: [payload("stale")],
            idempotency: [record(a, "k", "stale")],
          }),
          store.saveValue({
            ...v,
            expectedVersion: 0,
            state: payload("stale"),
            idempotency: [record(v, "k", "stale")],
          }),
          store.append({
            ...n,
            expectedSequence: 0,
            events: [payload("n1")],
            idempotency: [record(n, "k", "fresh")],
          }),
        ]);
        expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "fulfilled"]);
        expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(SequenceConflictError);
        expect(await store.loadIdempotency(a, "k")).toBeUndefined();
        expect(await store.loadIdempotency(v, "k")).toBeUndefined();
        expect(await answer(store, n, "k")).toBe("fresh");
      }));

    it("keeps the first record of a key", () =>
      withStore(async (store) => {
        const ref = freshRef();
        await store.append({
          ...ref,
          expectedSequence: 0,
          events: [payload("e1")],
          idempotency: [record(ref, "k", "first")],
        });
        await store.append({
          ...ref,
          expectedSequence: 1,
          events: [payload("e2")],
          idempotency: [record(ref, "k", "second", "other")],
        });
        // Two of one key in one write, too.
        await store.writeWork({ idempotency: [record(ref, "j", "one"), record(ref, "j", "two")] });
        expect(await store.loadIdempotency(ref, "k")).toMatchObject({ requestHash: "h-k" });
        expect(await answer(store, ref, "k")).toBe("first");
        expect(await answer(store, ref, "j")).toBe("one");
      }));

    it("keeps at most maxIdempotencyKeysPerEntity records per instance, dropping the oldest", () =>
      withStore(
        async (store) => {
          const [ref, other] = [freshRef("bounded"), freshRef("other")];
          await store.writeWork({ idempotency: [record(other, "o1", "o1")] });
          let version = 0;
          for (const key of ["k1", "k2", "k3"]) {
            version = await store.saveValue({
              ...ref,
              expectedVersion: version,
              state: payload(key),
              idempotency: [record(ref, key, key)],
            });
          }
          // Two more in one write.
          await store.saveValue({
            ...ref,
            expectedVersion: version,
            state: payload("k5"),
            idempotency: [record(ref, "k4", "k4"), record(ref, "k5", "k5")],
          });
          const kept = await Promise.all(
            ["k1", "k2", "k3", "k4", "k5"].map((k) => answer(store, ref, k)),
          );
          expect(kept).toEqual([undefined, undefined, "k3", "k4", "k5"]);
          expect(await answer(store, other, "o1")).toBe("o1");
        },
        { maxIdempotencyKeysPerEntity: 3 },
      ));

    it("expires records committed before a time, at most `limit` per call", () =>
      withStore(async (store) => {
        const ref = freshRef("expiring");
        await store.writeWork({
          idempotency: [record(ref, "old1", "1"), record(ref, "old2", "2")],
        });
        const cut = Date.now() + 1;
        // Nothing is committed before the epoch.
        expect(await store.expireIdempotency(0, 100)).toBe(0);
        expect(await answer(store, ref, "old1")).toBe("1");
        expect(await store.expireIdempotency(cut, 1)).toBe(1);
        let removed = 1;
        while (removed < 1_000_000) {
          const n = await store.expireIdempotency(cut, 1000);
          if (n === 0) break;
          removed += n;
        }
        expect(removed).toBeGreaterThanOrEqual(2);
        expect(await store.loadIdempotency(ref, "old1")).toBeUndefined();
        expect(await store.loadIdempotency(ref, "old2")).toBeUndefined();
        // Later records stay.
        await new Promise((r) => setTimeout(r, 5));
        await store.writeWork({ idempotency: [record(ref, "new", "n")] });
        expect(await store.expireIdempotency(cut, 1000)).toBe(0);
        expect(await answer(store, ref, "new")).toBe("n");
      }));

    it("refuses a malformed record before it reaches a batch", () =>
      withStore(async (store) => {
        const ref = freshRef();
        for (const key of ["", "x".repeat(256), "caf\u00e9"]) {
          const write = store.writeWork({ idempotency: [record(ref, key, "a")] });
          await expect(write).rejects.toBeInstanceOf(CairnError);
          await expect(write).rejects.toMatchObject({
            code: Code.InvalidArgument,
            message: expect.stringMatching(/idempotency-key/) as unknown,
          });
        }
        await expect(store.expireIdempotency(Date.now(), 0)).rejects.toMatchObject({
          code: Code.InvalidArgument,
        });
        // The store still works.
        await store.writeWork({ idempotency: [record(ref, "ok", "a")] });
        expect(await answer(store, ref, "ok")).toBe("a");
      }));

    it.runIf(options.durable)("keeps records across close and reopen", async () => {
      const ref = freshRef("durable");
      await withStore((s) =>
        s.append({
          ...ref,
          expectedSequence: 0,
          events: [payload("e")],
          idempotency: [record(ref, "k", "kept")],
        }),
      );
      expect(await withStore((s) => answer(s, ref, "k"))).toBe("kept");
    });
  });
}
