/**
 * Join laws on states and deltas produced by random runs (no final sync, so
 * the states genuinely differ): merge and delta application are commutative,
 * associative and idempotent, checked by comparing canonical encodings.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copy, simulate, steps } from "./harness.js";
import type { AnyReplica } from "./harness.js";
import { models } from "./models.js";

const RUNS = Number(process.env["CRDT_RUNS"] ?? 500);

function merged(...parts: AnyReplica[]): AnyReplica {
  const out = copy(parts[0], "x");
  for (const p of parts.slice(1)) out.merge(p.encodeState());
  return out;
}

function applied(base: AnyReplica, ...deltas: Uint8Array[]): AnyReplica {
  const out = copy(base, "x");
  for (const d of deltas) out.applyDelta(d);
  return out;
}

describe.each(Object.entries(models))("%s", (_name, model) => {
  // Scripts, not states, are generated so that a counterexample prints the operations.
  const scripts = steps(model.op, 30);

  it("merge is commutative, associative and idempotent", () => {
    fc.assert(
      fc.property(scripts, (script) => {
        const [a, b, c] = simulate(model, 3, script, "none", 0).replicas;
        expect(merged(a, b).equals(merged(b, a))).toBe(true);
        expect(merged(merged(a, b), c).equals(merged(a, merged(b, c)))).toBe(true);
        expect(merged(a, a).equals(a)).toBe(true);
        expect(merged(a, b, b).equals(merged(a, b))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it("anti-entropy and in-memory merges give exactly the state a full-state merge gives", () => {
    fc.assert(
      fc.property(scripts, (script) => {
        const [a, b] = simulate(model, 3, script, "none", 0).replicas;
        const expected = merged(b!, a!);
        const viaAntiEntropy = copy(b!, "x");
        const missing = a!.missingFor(viaAntiEntropy.encodeContext());
        if (missing !== undefined) viaAntiEntropy.merge(missing);
        expect(viaAntiEntropy.equals(expected)).toBe(true);
        const viaInstance = copy(b!, "x");
        viaInstance.merge(a!);
        expect(viaInstance.equals(expected)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it("delta application is commutative, associative and idempotent", () => {
    fc.assert(
      fc.property(scripts, fc.nat(), fc.nat(), (script, i, j) => {
        const {
          replicas: [a],
          deltas,
        } = simulate(model, 3, script, "none", 0);
        if (deltas.length === 0) return;
        const d1 = deltas[i % deltas.length];
        const d2 = deltas[j % deltas.length];
        expect(applied(a, d1, d2).equals(applied(a, d2, d1))).toBe(true);
        expect(applied(a, d1, d1).equals(applied(a, d1))).toBe(true);
        // (a + d1) + d2 == a + (d1 + d2), where d1 + d2 is joined on an empty replica first.
        const both = applied(model.create("y"), d1, d2);
        expect(applied(a, d1, d2).equals(merged(a, both))).toBe(true);
        // A delta is a state fragment: applying it equals merging it as a state.
        const viaMerge = copy(a, "x");
        viaMerge.merge(d1);
        expect(viaMerge.equals(applied(a, d1))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
