import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copy, simulate, steps } from "./harness.js";
import { models } from "./models.js";

// Runs per type: the suite shares two cores with other work, so keep it
// quick; set CRDT_RUNS=2000 for a deeper search before a release.
const RUNS = Number(process.env["CRDT_RUNS"] ?? 500);

describe.each(Object.entries(models))("%s", (_name, model) => {
  it("converges to equal state and value once every replica has received everything, by any route", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5 }),
        steps(model.op),
        fc.constantFrom("deltas" as const, "states" as const, "anti-entropy" as const),
        fc.integer(),
        (n, script, route, seed) => {
          const { replicas, spec } = simulate(model, n, script, route, seed);
          const first = replicas[0];
          replicas.forEach((r, i) => {
            expect(r.equals(first)).toBe(true);
            const expected = model.expected === undefined ? first.value : model.expected(spec, i);
            expect(normalize(r.value)).toEqual(normalize(expected));
          });
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("encoding then decoding gives an equal state and identical bytes, mid-run and after", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 4 }), steps(model.op), (n, script) => {
        for (const r of simulate(model, n, script, "none", 0).replicas) {
          const back = copy(r);
          expect(back.equals(r)).toBe(true);
          expect(back.encodeState()).toEqual(r.encodeState());
          expect(normalize(back.value)).toEqual(normalize(r.value));
        }
      }),
      { numRuns: RUNS / 2 },
    );
  });
});

/** Values compared structurally: Maps become sorted entry lists, numeric arrays are sorted. */
function normalize(v: unknown): unknown {
  if (v instanceof Map) {
    const out: unknown[] = [];
    (v as Map<unknown, unknown>).forEach((x, k) => out.push([k, normalize(x)]));
    return out;
  }
  if (Array.isArray(v))
    return (v as unknown[])
      .map(normalize)
      .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return v;
}
