/**
 * The README's examples, run as written (so they cannot drift from the API).
 */
import { describe, expect, it } from "vitest";
import {
  Flag,
  GCounter,
  GSet,
  LWWRegister,
  ORMap,
  ORSet,
  PNCounter,
  Vote,
  canonicalKey,
  decodeState,
  readHeader,
  reverseClock,
} from "../src/index.js";

describe("README examples", () => {
  it("opening example", () => {
    const a = new PNCounter("node-a");
    const b = new PNCounter("node-b");
    a.increment(3);
    b.decrement();
    b.applyDelta(a.takeDelta()!);
    a.applyDelta(b.takeDelta()!);
    expect(a.value).toBe(2);
    expect(b.value).toBe(2);
  });

  it("one example per type", () => {
    const views = new GCounter("node-1");
    views.increment();
    views.increment(4);
    expect(views.value).toBe(5);

    const tags = new GSet<string>("node-1");
    tags.add("crdt");
    expect(tags.has("crdt")).toBe(true);
    expect(tags.value).toEqual(["crdt"]);

    const cart = new ORSet<string>("node-1");
    cart.add("apple");
    cart.add("pear");
    cart.remove("apple");
    expect(cart.value).toEqual(["pear"]);

    const name = new LWWRegister<string>("node-1");
    name.set("Ada");
    expect(name.value).toBe("Ada");
    const first = new LWWRegister<string>("node-1", { clock: reverseClock });
    first.set("first");
    expect(first.value).toBe("first");
    const custom = new LWWRegister<number>("node-1");
    custom.set(42, { timestamp: 7 });
    expect(custom.timestamp).toBe(7);

    const shipped = new Flag("node-1");
    shipped.enable();
    expect(shipped.value).toBe(true);

    const ready = new Vote("node-1");
    ready.vote(true);
    expect(ready.value).toEqual({ votesFor: 1, voters: 1, selfVote: true });
    expect([ready.allVotedFor, ready.majorityVotedFor, ready.anyVotedFor]).toEqual([
      true,
      true,
      true,
    ]);

    const map = new ORMap("node-1");
    map.update("apples", PNCounter, (c) => c.increment(2));
    map.update("notes", LWWRegister<string>, (r) => void r.set("ring twice"));
    expect(map.get("apples", PNCounter)?.value).toBe(2);
    expect(map.value).toEqual(
      new Map<string, unknown>([
        ["apples", 2],
        ["notes", "ring twice"],
      ]),
    );
    map.remove("apples");
    expect(map.has("apples")).toBe(false);
  });

  it("runtime helpers", () => {
    const c = new PNCounter("node-1");
    c.increment();
    const bytes = c.encodeState();
    expect(readHeader(bytes)).toEqual({ version: 1, kind: "state", type: "PNCounter" });
    expect(decodeState(bytes, "node-2").value).toBe(1);
    expect(canonicalKey({ b: 1, a: [true, "x"] })).toBe('{"a":[true,"x"],"b":1}');
  });
});
