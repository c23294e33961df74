/**
 * A model-based property of timers: any sequence of schedules, cancels and
 * firings (complete, retry, park), some carrying a stale generation, leaves
 * the store with exactly the timers a plain map predicts. Used by the
 * durable-work conformance suite.
 */
import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { expect } from "vitest";
import type { StoredCall } from "../../src/store/durable-work.js";
import type { Store } from "../../src/store/types.js";

interface ModelTimer {
  dueAt: number;
  attempts: number;
  parked?: string;
  generation: number;
}

type Step =
  | { kind: "schedule"; name: string; dueAt: number }
  | { kind: "cancel"; name: string }
  | { kind: "complete" | "retry" | "park"; name: string; stale: boolean; dueAt: number };

const call: StoredCall = {
  service: "s",
  method: "m",
  payload: { typeUrl: "x", value: new Uint8Array([1]) },
  metadata: {},
};

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant("schedule" as const),
    name: fc.constantFrom("a", "b", "c"),
    dueAt: fc.integer({ min: 1, max: 1000 }),
  }),
  fc.record({ kind: fc.constant("cancel" as const), name: fc.constantFrom("a", "b", "c") }),
  fc.record({
    kind: fc.constantFrom("complete" as const, "retry" as const, "park" as const),
    name: fc.constantFrom("a", "b", "c"),
    stale: fc.boolean(),
    dueAt: fc.integer({ min: 1, max: 1000 }),
  }),
);

/** The property, over a fresh owner per run. */
export function timerModelProperty(store: Store) {
  return fc.asyncProperty(fc.array(step, { maxLength: 12 }), async (steps) => {
    const owner = `prop-${randomUUID().slice(0, 8)}`;
    const model = new Map<string, ModelTimer>();
    let newest = 0;
    for (const s of steps) {
      const t = model.get(s.name);
      if (s.kind === "schedule") {
        await store.writeWork({
          timers: [{ kind: "schedule", owner, name: s.name, dueAt: s.dueAt, call }],
        });
        const stored = (await store.listTimers(owner)).find((x) => x.name === s.name);
        expect(stored?.generation ?? 0).toBeGreaterThan(newest);
        newest = stored?.generation ?? newest;
        model.set(s.name, { dueAt: s.dueAt, attempts: 0, generation: newest });
      } else if (s.kind === "cancel") {
        await store.writeWork({ timers: [{ kind: "cancel", owner, name: s.name }] });
        model.delete(s.name);
      } else {
        // A stale firing carries a generation the timer no longer has.
        const generation = t === undefined || s.stale ? (t?.generation ?? 1) - 1 : t.generation;
        await fire(store, owner, s, generation);
        if (t !== undefined && !s.stale) apply(model, s, t);
      }
    }
    const stored = (await store.listTimers(owner)).map((x) => ({
      name: x.name,
      dueAt: x.dueAt,
      attempts: x.attempts,
      parked: x.parked,
    }));
    const expected = [...model].map(([name, m]) => ({
      name,
      dueAt: m.dueAt,
      attempts: m.attempts,
      parked: m.parked,
    }));
    const byName = (x: { name: string }, y: { name: string }) => x.name.localeCompare(y.name);
    expect(stored.sort(byName)).toEqual(expected.sort(byName));
  });
}

async function fire(
  store: Store,
  owner: string,
  s: Extract<Step, { stale: boolean }>,
  generation: number,
): Promise<void> {
  if (s.kind === "complete") await store.completeTimer(owner, s.name, generation);
  else if (s.kind === "retry") await store.retryTimer(owner, s.name, generation, s.dueAt);
  else await store.parkTimer(owner, s.name, generation, "gone");
}

function apply(
  model: Map<string, ModelTimer>,
  s: Extract<Step, { stale: boolean }>,
  t: ModelTimer,
): void {
  if (s.kind === "complete") model.delete(s.name);
  else if (s.kind === "retry")
    model.set(s.name, { ...t, dueAt: s.dueAt, attempts: t.attempts + 1 });
  else model.set(s.name, { ...t, parked: "gone" });
}
