/**
 * The semantic corners of each type, as plain examples.
 */
import { describe, expect, it } from "vitest";
import {
  CrdtError,
  Flag,
  GCounter,
  GSet,
  LWWRegister,
  ORMap,
  ORSet,
  PNCounter,
  Vote,
  reverseClock,
} from "../src/index.js";

/** Ships a's pending delta to b (if any). */
function ship(
  from: { takeDelta(): Uint8Array | undefined },
  to: { applyDelta(d: Uint8Array): void },
): void {
  const d = from.takeDelta();
  if (d !== undefined) to.applyDelta(d);
}

describe("ORSet", () => {
  it("lets an add win over a concurrent remove of the same element, in either delivery order", () => {
    const a = new ORSet<string>("a");
    const b = new ORSet<string>("b");
    a.add("x");
    ship(a, b);
    b.remove("x");
    a.add("x"); // concurrent with b's remove: b has not seen this add
    const removal = b.takeDelta();
    const readd = a.takeDelta();
    a.applyDelta(removal);
    b.applyDelta(readd);
    expect(a.value).toEqual(["x"]);
    expect(b.value).toEqual(["x"]);
    expect(a.equals(b)).toBe(true);
  });

  it("removes only the adds it has seen", () => {
    const a = new ORSet<string>("a");
    const b = new ORSet<string>("b");
    const c = new ORSet<string>("c");
    a.add("x");
    ship(a, b);
    c.add("x"); // b never sees this add
    b.remove("x");
    for (const r of [a, c]) r.applyDelta(b.encodeState());
    a.merge(c);
    expect(a.has("x")).toBe(true);
  });

  it("treats a remove of an element never seen as a no-op that sends nothing", () => {
    const a = new ORSet<string>("a");
    a.remove("ghost");
    expect(a.value).toEqual([]);
    expect(a.takeDelta()).toBeUndefined();
  });

  it("keeps an element removed when the remove arrives before the add it observed", () => {
    const a = new ORSet<string>("a");
    const b = new ORSet<string>("b");
    const c = new ORSet<string>("c");
    a.add("x");
    const add = a.takeDelta();
    b.applyDelta(add);
    b.remove("x");
    c.applyDelta(b.takeDelta()); // the remove first...
    c.applyDelta(add); // ...then the late add it had covered
    expect(c.value).toEqual([]);
  });

  it("identifies elements by canonical JSON, not object identity", () => {
    const s = new ORSet<{ a: number; b: number }>("a");
    s.add({ a: 1, b: 2 });
    expect(s.has({ b: 2, a: 1 })).toBe(true);
    s.remove({ b: 2, a: 1 });
    expect(s.size).toBe(0);
  });

  it("clear() removes every observed element and nothing concurrent", () => {
    const a = new ORSet<number>("a");
    const b = new ORSet<number>("b");
    a.add(1);
    a.add(2);
    ship(a, b);
    b.clear();
    a.add(3);
    ship(a, b);
    ship(b, a);
    expect(a.value).toEqual([3]);
    expect(b.value).toEqual([3]);
  });

  it("leaves no tombstone: history costs nothing once removed", () => {
    const a = new ORSet<number>("a");
    const empty = new ORSet<number>("a").encodeState().length;
    for (let i = 0; i < 10_000; i++) {
      a.add(i % 50);
      a.remove(i % 50);
    }
    expect(a.size).toBe(0);
    expect(a.contextRanges).toBe(1);
    // Only the replica table and one context range remain: constant, whatever the history.
    expect(a.encodeState().length).toBeLessThanOrEqual(empty + 10);
  });
});

describe("GSet", () => {
  it("only grows, and re-adding sends nothing", () => {
    const a = new GSet<string>("a");
    a.add("x");
    a.takeDelta();
    a.add("x");
    expect(a.takeDelta()).toBeUndefined();
    expect(a.value).toEqual(["x"]);
  });
});

describe("counters", () => {
  it("sum increments (and decrements) from all replicas", () => {
    const likes = new PNCounter("a");
    const other = new PNCounter("b");
    likes.increment(3);
    other.decrement(5);
    other.increment(-1);
    ship(likes, other);
    ship(other, likes);
    expect(likes.value).toBe(-3);
    expect(other.value).toBe(-3);
  });

  it("refuse a negative GCounter increment with a message that names the fix", () => {
    const c = new GCounter("a");
    expect(() => c.increment(-1)).toThrow(/GCounter.increment\(-1\).*use a PNCounter/);
    expect(() => c.increment(1.5)).toThrow(CrdtError);
  });
});

describe("LWWRegister", () => {
  it("keeps the write with the greatest timestamp, whatever the delivery order", () => {
    const a = new LWWRegister<string>("a");
    const b = new LWWRegister<string>("b");
    a.set("late", { timestamp: 20 });
    b.set("early", { timestamp: 10 });
    ship(b, a);
    ship(a, b);
    expect(a.value).toBe("late");
    expect(b.value).toBe("late");
  });

  it("breaks timestamp ties by the greater replica id", () => {
    const a = new LWWRegister<string>("a");
    const b = new LWWRegister<string>("b");
    a.set("from a", { timestamp: 5 });
    b.set("from b", { timestamp: 5 });
    ship(a, b);
    ship(b, a);
    expect(a.value).toBe("from b");
    expect(b.value).toBe("from b");
  });

  it("ignores a local write whose timestamp does not beat the current one", () => {
    const r = new LWWRegister<number>("a");
    expect(r.set(1, { timestamp: 10 })).toBe(true);
    expect(r.set(2, { timestamp: 9 })).toBe(false);
    expect(r.value).toBe(1);
  });

  it("with the default clock, a replica's successive writes always win locally", () => {
    const r = new LWWRegister<number>("a");
    r.set(1, { timestamp: Date.now() + 60_000 }); // a clock far ahead
    expect(r.set(2)).toBe(true);
    expect(r.value).toBe(2);
  });

  it("with the reverse clock, the earliest write wins", () => {
    const a = new LWWRegister<string>("a", { clock: reverseClock });
    const b = new LWWRegister<string>("b", { clock: reverseClock });
    a.set("first");
    b.merge(a);
    // A write in a later millisecond gets a smaller stamp, so it loses to the value already seen.
    const start = Date.now();
    while (Date.now() === start); // poll until the wall clock ticks (at most ~1 ms)
    expect(b.set("second")).toBe(false);
    expect(b.value).toBe("first");
    const c = new LWWRegister<string>("c", { clock: () => -1 }); // a caller-supplied clock: "written at 1 ms after 1970"
    c.set("earliest");
    b.merge(c);
    expect(b.value).toBe("earliest");
  });
});

describe("Flag", () => {
  it("is false until enabled, and enable wins", () => {
    const a = new Flag("a");
    const b = new Flag("b");
    expect(a.value).toBe(false);
    b.enable();
    ship(b, a);
    expect(a.value).toBe(true);
  });
});

describe("Vote", () => {
  it("reads all-agree, majority and at-least-one", () => {
    const [a, b, c] = [new Vote("a"), new Vote("b"), new Vote("c")];
    a.vote(true);
    b.vote(false);
    c.vote(true);
    for (const from of [a, b, c]) {
      const d = from.takeDelta();
      for (const to of [a, b, c]) to.applyDelta(d);
    }
    expect(b.value).toEqual({ votesFor: 2, voters: 3, selfVote: false });
    expect(b.majorityVotedFor).toBe(true);
    expect(b.allVotedFor).toBe(false);
    expect(b.anyVotedFor).toBe(true);
    b.vote(true);
    a.applyDelta(b.takeDelta());
    expect(a.allVotedFor).toBe(true);
  });
});

describe("ORMap", () => {
  it("keeps a key removed on one replica while its value is updated on another, holding only what the remove had not seen", () => {
    const a = new ORMap("a");
    const b = new ORMap("b");
    a.update("tags", ORSet<string>, (s) => s.add("old"));
    ship(a, b);
    b.remove("tags");
    a.update("tags", ORSet<string>, (s) => s.add("new")); // concurrent with the remove
    ship(a, b);
    ship(b, a);
    expect(a.get("tags", ORSet<string>)?.value).toEqual(["new"]);
    expect(b.get("tags", ORSet<string>)?.value).toEqual(["new"]);
    expect(a.equals(b)).toBe(true);
  });

  it("a removed counter revived by a concurrent increment keeps that replica's running total", () => {
    // Counters keep one running total per replica, so the survivor is the
    // incrementing replica's whole total, not only the concurrent part.
    const a = new ORMap("a");
    const b = new ORMap("b");
    a.update("n", PNCounter, (c) => c.increment(2));
    ship(a, b);
    b.remove("n");
    a.update("n", PNCounter, (c) => c.increment(5));
    ship(b, a);
    ship(a, b);
    expect(b.get("n", PNCounter)?.value).toBe(7);
    expect(a.equals(b)).toBe(true);
  });

  it("nests maps and reads plain values", () => {
    const m = new ORMap("a");
    m.update("profile", ORMap, (p) =>
      p.update("name", LWWRegister<string>, (r) => void r.set("Ada")),
    );
    m.update("visits", GCounter, (c) => c.increment(3));
    expect(m.value).toEqual(
      new Map<string, unknown>([
        ["profile", new Map([["name", "Ada"]])],
        ["visits", 3],
      ]),
    );
    expect(m.keys()).toEqual(["profile", "visits"]);
  });

  it("refuses to read a value as the wrong type, naming the key and both types", () => {
    const m = new ORMap("a");
    m.update("likes", PNCounter, (c) => c.increment());
    expect(() => m.get("likes", GSet)).toThrow(/ORMap key "likes" holds a PNCounter, not a GSet/);
  });

  it("refuses to merge concurrent creations of one key with two types, and changes nothing", () => {
    const a = new ORMap("a");
    const b = new ORMap("b");
    a.update("k", GCounter, (c) => c.increment());
    b.update("k", Flag, (f) => f.enable());
    const before = a.encodeState();
    expect(() => a.merge(b.encodeState())).toThrow(/holds a GCounter here but a Flag/);
    expect(a.encodeState()).toEqual(before);
  });

  it("lets a key change type after a remove that the other replica has seen", () => {
    const a = new ORMap("a");
    const b = new ORMap("b");
    a.update("k", GCounter, (c) => c.increment());
    ship(a, b);
    b.remove("k");
    b.update("k", Flag, (f) => f.enable());
    ship(b, a);
    expect(a.typeOf("k")).toBe("Flag");
  });

  it("replicates values only through the map", () => {
    const m = new ORMap("a");
    const c = m.getOrCreate("n", GCounter);
    c.increment();
    expect(() => c.takeDelta()).toThrow(/call takeDelta\(\) on the ORMap/);
    expect(m.takeDelta()).toBeDefined();
  });
});

describe("misuse", () => {
  it("refuses to merge states of different types", () => {
    const c = new GCounter("a");
    const s = new ORSet("a");
    s.add(1);
    expect(() => c.merge(s.encodeState())).toThrow(
      /cannot use a ORSet state on GCounter of replica 'a'/,
    );
    expect(() => c.merge(s as never)).toThrow(/cannot merge a ORSet into GCounter/);
  });

  it("refuses an empty replica id and values without a stable encoding", () => {
    expect(() => new PNCounter("")).toThrow(/replica id is ""/);
    const s = new ORSet("a");
    expect(() => s.add(new Date() as never)).toThrow(/is a Date; use a plain object/);
    expect(() => s.add(Number.NaN)).toThrow(/only finite numbers/);
    expect(() => s.add({ f: undefined })).toThrow(/value.f is of type undefined/);
  });

  it("refuses context bytes where a state is expected", () => {
    const a = new GCounter("a");
    expect(() => a.merge(a.encodeContext())).toThrow(/pass context bytes to missingFor/);
  });
});

describe("late and missing deltas", () => {
  it("count a replica's latest running total only, while a delta in between is missing", () => {
    const a = new PNCounter("a");
    const b = new PNCounter("b");
    a.decrement();
    b.applyDelta(a.takeDelta());
    a.decrement();
    a.takeDelta(); // lost
    a.increment();
    b.applyDelta(a.takeDelta());
    expect(b.value).toBe(-1);
    // Contexts now match, yet b still holds a's first entry: anti-entropy must see that.
    const missing = a.missingFor(b.encodeContext());
    expect(missing).toBeDefined();
    b.merge(missing);
    expect(b.equals(a)).toBe(true);
  });
});
