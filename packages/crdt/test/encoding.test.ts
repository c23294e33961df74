/**
 * The encoding: header, versioning, canonical bytes, anti-entropy, and
 * robustness against bytes that were not produced by this library.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CrdtError,
  FORMAT_VERSION,
  GCounter,
  ORMap,
  ORSet,
  PNCounter,
  createCrdt,
  decodeState,
  readHeader,
} from "../src/index.js";
import { simulate, steps } from "./harness.js";
import { models } from "./models.js";

describe("envelope", () => {
  it("starts with version, kind and type, readable without decoding the body", () => {
    const c = new PNCounter("a");
    c.increment();
    expect(readHeader(c.encodeState())).toEqual({
      version: FORMAT_VERSION,
      kind: "state",
      type: "PNCounter",
    });
    expect(readHeader(c.takeDelta())).toEqual({
      version: FORMAT_VERSION,
      kind: "delta",
      type: "PNCounter",
    });
    expect(readHeader(c.encodeContext()).kind).toBe("context");
  });

  it("refuses a newer format version, saying what to upgrade", () => {
    const bytes = new GCounter("a").encodeState();
    bytes[0] = FORMAT_VERSION + 1;
    expect(() => new GCounter("b").merge(bytes)).toThrow(
      /format version 2, this @cairn\/crdt reads version 1; upgrade/,
    );
  });

  it("gives equal states byte-identical encodings, whatever the order of operations", () => {
    const a = new ORSet<number>("a");
    const b = new ORSet<number>("b");
    for (const x of [3, 1, 2]) a.add(x);
    const d = a.takeDelta();
    b.merge(a.encodeState());
    const c = new ORSet<number>("c");
    c.applyDelta(d);
    expect(c.encodeState()).toEqual(b.encodeState());
  });

  it("round-trips through createCrdt/decodeState by type name", () => {
    const m = new ORMap("a");
    m.update("n", GCounter, (c) => c.increment(7));
    const copy = decodeState(m.encodeState(), "b");
    expect(copy.type).toBe("ORMap");
    expect(copy.equals(m as never)).toBe(true);
    expect(createCrdt("Vote", "a").value).toEqual({ votesFor: 0, voters: 0, selfVote: false });
  });

  it("reports truncated or corrupted bytes as malformed CrdtErrors, never as other exceptions", () => {
    const sources = Object.values(models).map((model) =>
      steps(model.op, 12).map((script) => simulate(model, 2, script, "none", 0).replicas[0]),
    );
    fc.assert(
      fc.property(
        fc.oneof(...sources),
        fc.nat(),
        fc.nat({ max: 255 }),
        fc.boolean(),
        (replica, at, byte, truncate) => {
          const bytes = replica.encodeState();
          const damaged = truncate ? bytes.subarray(0, at % bytes.length) : bytes.slice();
          if (!truncate) damaged[at % bytes.length] = byte;
          const target = createCrdt(replica.type, "x");
          try {
            (target as { merge(b: Uint8Array): void }).merge(damaged);
          } catch (e) {
            expect(e).toBeInstanceOf(CrdtError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("anti-entropy", () => {
  it("sends only what a peer is missing, and nothing once it is up to date", () => {
    const a = new ORSet<number>("a");
    const b = new ORSet<number>("b");
    for (let i = 0; i < 1000; i++) a.add(i);
    b.merge(a.encodeState());
    a.takeDelta();
    a.remove(5);
    a.add(5000);
    a.takeDelta(); // dropped on the way to b
    const missing = a.missingFor(b.encodeContext());
    expect(missing.length).toBeLessThan(a.encodeState().length / 10);
    b.merge(missing);
    expect(b.equals(a)).toBe(true);
    expect(a.missingFor(b.encodeContext())).toBeUndefined();
  });
});
