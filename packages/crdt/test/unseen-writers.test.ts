import { describe, expect, it } from "vitest";
import { CrdtError, ORSet, PNCounter } from "../src/index.js";

describe("unseenWriters", () => {
  it("names the replicas whose writes a delta carries and this replica has not seen", () => {
    const runtime = new ORSet<string>("runtime");
    const a = new ORSet<string>("a");
    a.add("x");
    const first = a.takeDelta()!;
    expect(runtime.unseenWriters(first)).toEqual(["a"]);
    runtime.applyDelta(first);
    expect(runtime.unseenWriters(first)).toEqual([]);
    // A removal covers the dots its replica saw (here its own add) and takes
    // one dot of the remover's own: only the remover is new.
    const b = new ORSet<string>("b");
    b.merge(runtime);
    b.remove("x");
    expect(runtime.unseenWriters(b.takeDelta()!)).toEqual(["b"]);
  });

  it("lists several foreign writers, sorted, and refuses another type", () => {
    const runtime = new PNCounter("runtime");
    const b = new PNCounter("b");
    const a = new PNCounter("a");
    a.increment();
    b.increment();
    b.merge(a);
    expect(runtime.unseenWriters(b.encodeState())).toEqual(["a", "b"]);
    const set = new ORSet<string>("s");
    set.add("y");
    expect(() => runtime.unseenWriters(set.takeDelta()!)).toThrow(CrdtError);
  });
});
