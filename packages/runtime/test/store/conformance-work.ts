/**
 * Conformance of durable work (outbox and timers), run by
 * describeStoreConformance against every adapter. Tests share one store
 * location, so each filters what it loads by its own service or owner, and
 * due times are chosen so tests never see each other's timers as earlier.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { StoredCall, TimerChange, TimerEntry } from "../../src/store/durable-work.js";
import fc from "fast-check";
import { SequenceConflictError, TimerLimitError } from "../../src/store/types.js";
import type { EntityRef, Store, StoredPayload, StoreOptions } from "../../src/store/types.js";
import type { ConformanceOptions, MakeStore } from "./conformance.js";
import { timerModelProperty } from "./timer-property.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Far past: due for every `now` the tests pass, and later than the nextTimerDue test's times. */
const PAST = 1_000_000;

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

/** A call to `service`; the payload's text is the method name. */
function call(service: string, method: string): StoredCall {
  return { service, method, payload: payload(method), metadata: { "x-test": method } };
}

function schedule(owner: string, name: string, dueAt: number, c: StoredCall): TimerChange {
  return { kind: "schedule", owner, name, dueAt, call: c };
}

function uniqueName(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** Methods of the due outbox entries of one service, in load order. */
async function outboxOf(store: Store, service: string, now = Date.now()): Promise<string[]> {
  return (await store.loadOutbox(now, 100_000))
    .filter((e) => e.service === service)
    .map((e) => e.method);
}

async function timer(store: Store, owner: string, name: string): Promise<TimerEntry | undefined> {
  return (await store.listTimers(owner)).find((t) => t.name === name);
}

/** Runs the durable-work conformance tests against one adapter. */
export function describeDurableWorkConformance(
  name: string,
  makeStore: MakeStore,
  options: ConformanceOptions,
): void {
  describe(`durable work conformance: ${name}`, () => {
    async function withStore<T>(fn: (s: Store) => Promise<T>, o?: StoreOptions): Promise<T> {
      const store = await makeStore(o);
      try {
        return await fn(store);
      } finally {
        await store.close();
      }
    }

    it("stores the work of an append, of a value write and of work alone", () =>
      withStore(async (store) => {
        const svc = uniqueName("svc");
        const ref = freshRef();
        const owner = `${ref.entityType}/${ref.entityId}`;
        await store.append({
          ...ref,
          expectedSequence: 0,
          events: [payload("a")],
          outbox: [call(svc, "A")],
          timers: [schedule(owner, "t1", PAST + 1, call(svc, "T1"))],
        });
        await store.saveValue({
          ...ref,
          expectedVersion: 0,
          state: payload("v"),
          outbox: [call(svc, "V")],
          timers: [schedule(owner, "t2", PAST + 2, call(svc, "T2"))],
        });
        await store.writeWork({ outbox: [call(svc, "W1"), call(svc, "W2")] });
        const entries = (await store.loadOutbox(Date.now(), 100_000)).filter(
          (e) => e.service === svc,
        );
        expect(entries.map((e) => e.method)).toEqual(["A", "V", "W1", "W2"]);
        const ids = entries.map((e) => e.id);
        expect([...ids].sort((x, y) => x - y)).toEqual(ids);
        expect(entries[0]).toMatchObject({ attempts: 0, metadata: { "x-test": "A" } });
        expect(dec.decode(entries[0]?.payload.value)).toBe("A");
        const timers = await store.listTimers(owner);
        expect(timers.map((t) => [t.name, t.dueAt, t.method, t.attempts, t.parked])).toEqual([
          ["t1", PAST + 1, "T1", 0, undefined],
          ["t2", PAST + 2, "T2", 0, undefined],
        ]);
        expect(dec.decode(timers[1]?.payload.value)).toBe("T2");
        expect(timers[1]?.metadata).toEqual({ "x-test": "T2" });
      }));

    it("accepts an append with no events but some work while its expected sequence is the latest", () =>
      withStore(async (store) => {
        const svc = uniqueName("svc");
        const ref = freshRef();
        await store.append({ ...ref, expectedSequence: 0, events: ["a", "b"].map(payload) });
        expect(
          await store.append({ ...ref, expectedSequence: 2, events: [], outbox: [call(svc, "X")] }),
        ).toEqual({ sequence: 2 });
        await expect(
          store.append({ ...ref, expectedSequence: 1, events: [], outbox: [call(svc, "stale")] }),
        ).rejects.toBeInstanceOf(SequenceConflictError);
        expect(await outboxOf(store, svc)).toEqual(["X"]);
        expect(await store.lastSequence(ref)).toBe(2);
      }));

    it("stores none of a conflicting write's work, and all of its batch neighbours' work", () =>
      withStore(async (store) => {
        const svc = uniqueName("svc");
        const [a, b, c, v] = [freshRef("a"), freshRef("b"), freshRef("c"), freshRef("v")];
        const ownerA = `${a.entityType}/${a.entityId}`;
        const ownerC = `${c.entityType}/${c.entityId}`;
        await store.append({ ...a, expectedSequence: 0, events: [payload("a1")] });
        // Issued in one tick, so they share a group commit.
        const results = await Promise.allSettled([
          store.append({
            ...b,
            expectedSequence: 0,
            events: [payload("b1")],
            outbox: [call(svc, "B")],
          }),
          store.append({
            ...a,
            expectedSequence: 0,
            events: [payload("stale")],
            outbox: [call(svc, "staleA")],
            timers: [schedule(ownerA, "stale", PAST, call(svc, "staleT"))],
          }),
          store.saveValue({
            ...v,
            expectedVersion: 3,
            state: payload("x"),
            outbox: [call(svc, "staleV")],
          }),
          store.writeWork({ outbox: [call(svc, "W")] }),
          store.append({
            ...c,
            expectedSequence: 0,
            events: [payload("c1")],
            timers: [schedule(ownerC, "c", PAST, call(svc, "C"))],
          }),
        ]);
        expect(results.map((r) => r.status)).toEqual([
          "fulfilled",
          "rejected",
          "rejected",
          "fulfilled",
          "fulfilled",
        ]);
        expect(await outboxOf(store, svc)).toEqual(["B", "W"]);
        expect(await store.listTimers(ownerA)).toEqual([]);
        expect((await store.listTimers(ownerC)).map((t) => t.name)).toEqual(["c"]);
      }));

    it("replaces a timer scheduled again under its name with a new generation, and cancels by name", () =>
      withStore(async (store) => {
        const owner = uniqueName("owner");
        await store.writeWork({ timers: [schedule(owner, "t", PAST + 50, call("s", "M1"))] });
        const first = await timer(store, owner, "t");
        await store.writeWork({ timers: [schedule(owner, "t", PAST + 60, call("s", "M2"))] });
        const timers = await store.listTimers(owner);
        expect(timers.map((t) => [t.name, t.dueAt, t.method])).toEqual([["t", PAST + 60, "M2"]]);
        expect(timers[0]?.generation).toBeGreaterThan(first?.generation ?? Infinity);
        await store.writeWork({ timers: [{ kind: "cancel", owner, name: "t" }] });
        await store.writeWork({ timers: [{ kind: "cancel", owner, name: "never-scheduled" }] });
        expect(await store.listTimers(owner)).toEqual([]);
      }));

    it("completes, retries and parks a timer only at the generation it was loaded with", () =>
      withStore(async (store) => {
        const owner = uniqueName("owner");
        await store.writeWork({ timers: [schedule(owner, "t", PAST + 10, call("s", "M"))] });
        const old = (await timer(store, owner, "t"))?.generation ?? -1;
        await store.writeWork({ timers: [schedule(owner, "t", PAST + 20, call("s", "M"))] });
        const current = (await timer(store, owner, "t"))?.generation ?? -1;
        await store.completeTimer(owner, "t", old);
        await store.retryTimer(owner, "t", old, PAST + 99);
        await store.parkTimer(owner, "t", old, "stale firing");
        expect(await timer(store, owner, "t")).toMatchObject({
          dueAt: PAST + 20,
          attempts: 0,
          generation: current,
        });
        expect((await timer(store, owner, "t"))?.parked).toBeUndefined();
        await store.retryTimer(owner, "t", current, PAST + 30);
        expect(await timer(store, owner, "t")).toMatchObject({
          dueAt: PAST + 30,
          attempts: 1,
          generation: current,
        });
        await store.parkTimer(owner, "t", current, "service gone");
        expect((await timer(store, owner, "t"))?.parked).toBe("service gone");
        await store.completeTimer(owner, "t", current);
        expect(await store.listTimers(owner)).toEqual([]);
      }));

    it("loads due timers earliest first, without parked ones or ones not yet due", () =>
      withStore(async (store) => {
        const owner = uniqueName("owner");
        const c = call("s", "M");
        await store.writeWork({
          timers: [
            schedule(owner, "a", PAST + 10, c),
            schedule(owner, "b", PAST + 5, c),
            schedule(owner, "late", PAST + 20, c),
            schedule(owner, "future", Date.now() + 3_600_000, c),
          ],
        });
        const due = await store.loadDueTimers(PAST + 15, 100_000);
        expect(due.filter((t) => t.owner === owner).map((t) => t.name)).toEqual(["b", "a"]);
        const times = due.map((t) => t.dueAt);
        expect([...times].sort((x, y) => x - y)).toEqual(times);
        await store.parkTimer(
          owner,
          "b",
          (await timer(store, owner, "b"))?.generation ?? -1,
          "gone",
        );
        const after = await store.loadDueTimers(Date.now(), 100_000);
        expect(after.filter((t) => t.owner === owner).map((t) => t.name)).toEqual(["a", "late"]);
        expect((await store.listTimers(owner)).map((t) => t.name).sort()).toEqual([
          "a",
          "b",
          "future",
          "late",
        ]);
        expect(await store.loadDueTimers(Date.now(), 1)).toHaveLength(1);
      }));

    it("reports the earliest due time of unparked timers", () =>
      withStore(async (store) => {
        const owner = uniqueName("owner");
        const c = call("s", "M");
        // Earlier than every other test's timers, so they cannot hide the answer.
        await store.writeWork({
          timers: [schedule(owner, "first", 1, c), schedule(owner, "second", 2, c)],
        });
        expect(await store.nextTimerDue()).toBe(1);
        await store.parkTimer(
          owner,
          "first",
          (await timer(store, owner, "first"))?.generation ?? -1,
          "gone",
        );
        expect(await store.nextTimerDue()).toBe(2);
        await store.writeWork({ timers: [{ kind: "cancel", owner, name: "second" }] });
        expect(await store.nextTimerDue()).not.toBe(2);
      }));

    it("fails a write that takes an owner past the timer limit with TimerLimitError, alone in its batch", () =>
      withStore(
        async (store) => {
          const svc = uniqueName("svc");
          const ref = freshRef();
          const owner = `${ref.entityType}/${ref.entityId}`;
          const c = call(svc, "M");
          await store.writeWork({
            timers: [schedule(owner, "t1", PAST, c), schedule(owner, "t2", PAST, c)],
          });
          const results = await Promise.allSettled([
            store.append({
              ...ref,
              expectedSequence: 0,
              events: [payload("e")],
              outbox: [call(svc, "over")],
              timers: [schedule(owner, "t3", PAST, c), schedule(owner, "t4", PAST, c)],
            }),
            store.writeWork({ outbox: [call(svc, "neighbour")] }),
            // Replacing an existing timer does not count against the limit.
            store.writeWork({ timers: [schedule(owner, "t1", PAST + 1, c)] }),
          ]);
          expect(results.map((r) => r.status)).toEqual(["rejected", "fulfilled", "fulfilled"]);
          const error = (results[0] as PromiseRejectedResult).reason as unknown;
          expect(error).toBeInstanceOf(TimerLimitError);
          expect(error).toMatchObject({ owner, count: 4, limit: 3 });
          expect((error as Error).message).toMatch(new RegExp(`${owner}.*4.*limit is 3`));
          expect(await store.lastSequence(ref)).toBe(0);
          expect(await outboxOf(store, svc)).toEqual(["neighbour"]);
          expect((await store.listTimers(owner)).map((t) => t.name)).toEqual(["t2", "t1"]);
          await store.writeWork({ timers: [schedule(owner, "t3", PAST, c)] });
          await store.writeWork({
            timers: [{ kind: "cancel", owner, name: "t1" }, schedule(owner, "t4", PAST, c)],
          });
          await expect(
            store.writeWork({ timers: [schedule(owner, "t5", PAST, c)] }),
          ).rejects.toBeInstanceOf(TimerLimitError);
          expect((await store.listTimers(owner)).map((t) => t.name).sort()).toEqual([
            "t2",
            "t3",
            "t4",
          ]);
        },
        { maxTimersPerOwner: 3 },
      ));

    it("loads outbox entries in id order, holds retried ones until notBefore, drops completed ones", () =>
      withStore(async (store) => {
        const svc = uniqueName("svc");
        const now = Date.now();
        await store.writeWork({ outbox: ["E1", "E2", "E3"].map((m) => call(svc, m)) });
        const entries = (await store.loadOutbox(now, 100_000)).filter((e) => e.service === svc);
        expect(entries.map((e) => e.method)).toEqual(["E1", "E2", "E3"]);
        const [e1, e2] = entries;
        await store.retryOutbox(e1?.id ?? -1, now + 60_000);
        expect(await outboxOf(store, svc, now)).toEqual(["E2", "E3"]);
        await store.completeOutbox(e2?.id ?? -1);
        const later = (await store.loadOutbox(now + 60_000, 100_000)).filter(
          (e) => e.service === svc,
        );
        expect(later.map((e) => [e.method, e.attempts])).toEqual([
          ["E1", 1],
          ["E3", 0],
        ]);
        expect(later[0]?.notBefore).toBe(now + 60_000);
        expect(await store.loadOutbox(now + 60_000, 1)).toHaveLength(1);
      }));

    it("rejects malformed work with a message saying what to pass", () =>
      withStore(async (store) => {
        const c = call("s", "M");
        await expect(store.writeWork({ timers: [schedule("o", "t", 1.5, c)] })).rejects.toThrow(
          /dueAt 1\.5.*integer epoch milliseconds/,
        );
        await expect(store.writeWork({ timers: [schedule("o", "", 1, c)] })).rejects.toThrow(
          /empty owner or name/,
        );
        await expect(store.completeTimer("o", "t", Number.NaN)).rejects.toThrow(/generation NaN/);
      }));

    it("keeps exactly the timers a model predicts under schedules, cancels and stale firings (property)", () =>
      withStore((store) =>
        fc.assert(timerModelProperty(store), { numRuns: options.propertyRuns ?? 30 }),
      ));

    it.runIf(options.durable)(
      "keeps outbox entries and timers across close and reopen",
      async () => {
        const svc = uniqueName("svc");
        const owner = uniqueName("owner");
        const before = await withStore(async (store) => {
          await store.writeWork({
            outbox: [call(svc, "O")],
            timers: [schedule(owner, "t", PAST, call(svc, "T"))],
          });
          return (await timer(store, owner, "t"))?.generation ?? Infinity;
        });
        await withStore(async (store) => {
          expect(await outboxOf(store, svc)).toEqual(["O"]);
          expect(await timer(store, owner, "t")).toMatchObject({
            dueAt: PAST,
            method: "T",
            generation: before,
          });
          // Generations keep increasing across reopen, so an old firing never matches a new schedule.
          await store.writeWork({ timers: [schedule(owner, "t", PAST, call(svc, "T"))] });
          expect((await timer(store, owner, "t"))?.generation).toBeGreaterThan(before);
        });
      },
    );
  });
}
