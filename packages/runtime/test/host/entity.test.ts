/**
 * The entity engine on its own: a stand-in user function, the real memory
 * store (observed, and held back where a test needs a write in flight) and a
 * manual clock, so timeouts are exact and instant.
 */
import { create } from "@bufbuild/protobuf";
import { Code, SideEffectSchema } from "@cairn/protocol";
import { describe, expect, it } from "vitest";
import { ActivationLimit } from "../../src/host/activation-limit.js";
import { PIPELINE_WINDOW } from "../../src/host/entity.js";
import { ShoppingCart } from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { SequenceConflictError } from "../../src/store/types.js";
import { CART_TYPE, cartAny, entityHarness, journal, settle } from "./harness.js";

const ref = { entityType: CART_TYPE, entityId: "c1" };

describe("activation", () => {
  it("opens a channel on the first command: init, the journal's events, then the command", async () => {
    const h = entityHarness();
    await h.held.real.append({ ...ref, expectedSequence: 0, events: [ev("old-1"), ev("old-2")] });
    const a = h.addItem("apple");
    await settle();
    expect(h.fn.log).toEqual(["init", "event", "event", "command"]);
    expect(h.fn.replayed(h.fn.open[0]!)).toEqual(['"old-1"', '"old-2"']);
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"apple"'] });
    await settle();
    expect(a.settled && a.error === undefined).toBe(true);
    expect(await journal(h.held.store)).toEqual(['"old-1"', '"old-2"', '"apple"']);
    // The new event went at the sequence after the replayed ones.
    expect(h.held.appends[0]!.expectedSequence).toBe(2);
  });

  it("fails the queued commands with UNAVAILABLE when the function is down", async () => {
    const h = entityHarness();
    h.fn.up = false;
    const a = h.addItem("apple");
    await settle();
    expect(a.error?.code).toBe(Code.Unavailable);
    expect(a.error?.message).toMatch(/not available/);
  });
});

describe("pipelining", () => {
  it("sends commands without waiting for replies, up to the window", async () => {
    const h = entityHarness();
    const cmds = Array.from({ length: PIPELINE_WINDOW + 8 }, (_, i) => h.addItem(`p${i}`));
    await settle();
    expect(h.fn.unanswered).toHaveLength(PIPELINE_WINDOW);
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"p0"'] });
    expect(h.fn.unanswered).toHaveLength(PIPELINE_WINDOW); // the 33rd went out at once
    for (const c of h.fn.unanswered) h.fn.reply(c, { events: [`"${c.id}"`] });
    await settle();
    for (const c of h.fn.unanswered) h.fn.reply(c, { events: [`"${c.id}"`] });
    await settle();
    expect(cmds.every((c) => c.settled && c.error === undefined)).toBe(true);
    expect(await journal(h.held.store)).toHaveLength(PIPELINE_WINDOW + 8);
  });

  it("keeps the order of the journal equal to the order of the commands", async () => {
    const h = entityHarness();
    for (let i = 0; i < 10; i++) h.addItem(`p${i}`);
    await settle();
    for (const c of h.fn.unanswered) h.fn.reply(c, { events: [`"e${c.id}"`] });
    await settle();
    expect(await journal(h.held.store)).toEqual(
      Array.from({ length: 10 }, (_, i) => `"e${i + 1}"`),
    );
  });
});

describe("commit grouping", () => {
  it("writes the replies that arrive during a commit as one write, released only when durable", async () => {
    const h = entityHarness();
    const cmds = Array.from({ length: 5 }, (_, i) => h.addItem(`p${i}`));
    await settle();
    h.held.hold();
    const [first, ...rest] = h.fn.unanswered;
    h.fn.reply(first!, { events: ['"e1"'] });
    await settle();
    expect(h.held.appends).toHaveLength(1); // in flight, held
    for (const c of rest) h.fn.reply(c, { events: [`"e${c.id}"`] });
    await settle();
    expect(h.held.appends).toHaveLength(1); // the others wait for it
    expect(cmds.some((c) => c.settled)).toBe(false); // nothing released before it is durable
    h.held.release();
    await settle();
    expect(h.held.appends.map((a) => a.events.length)).toEqual([1, 4]);
    expect(h.held.appends[1]!.expectedSequence).toBe(1);
    expect(cmds.every((c) => c.settled && c.error === undefined)).toBe(true);
    expect(await journal(h.held.store)).toEqual(['"e1"', '"e2"', '"e3"', '"e4"', '"e5"']);
  });

  it("holds a reply that changes nothing until the writes before it are durable", async () => {
    const h = entityHarness();
    const write = h.addItem("apple");
    const read = h.addItem("query");
    await settle();
    h.held.hold();
    const [w, r] = h.fn.unanswered;
    h.fn.reply(w!, { events: ['"apple"'] });
    h.fn.reply(r!); // no events: a read
    await settle();
    expect(read.settled).toBe(false);
    h.held.release();
    await settle();
    expect(write.settled && read.settled).toBe(true);
    expect(h.held.appends).toHaveLength(1); // the read cost no write
  });
});

describe("a failed append in mid-pipeline", () => {
  it("fails the group and every reply computed after it, restarts from the store, and runs what was queued", async () => {
    const h = entityHarness();
    const cmds = Array.from({ length: 5 }, (_, i) => h.addItem(`p${i}`));
    await settle();
    h.held.hold();
    const sent = h.fn.unanswered;
    h.fn.reply(sent[0]!, { events: ['"mine-1"'] });
    h.fn.reply(sent[1]!, { events: ['"mine-2"'] });
    h.fn.reply(sent[2]!, { events: ['"mine-3"'] });
    await settle();
    // Meanwhile another writer takes sequence 1.
    await h.held.real.append({ ...ref, expectedSequence: 0, events: [ev("theirs")] });
    h.fn.reply(sent[3]!, { events: ['"mine-4"'] });
    h.held.release();
    await settle();
    // The group, the reply queued after it and the one still in flight all fail.
    for (const c of cmds) expect(c.error?.code).toBe(Code.Aborted);
    expect(cmds[0]!.error?.message).toMatch(
      /another writer changed the state of shoppingcart.v1.ShoppingCart\/c1/,
    );
    expect(h.observed.restarts).toEqual(["store_failure"]);
    // Nothing of ours is in the journal; the entity starts over from it.
    expect(await journal(h.held.store)).toEqual(['"theirs"']);
    const later = h.addItem("later");
    await settle();
    const channel = h.fn.open[0]!;
    expect(h.fn.replayed(channel)).toEqual(['"theirs"']);
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"later"'] });
    await settle();
    expect(later.error).toBeUndefined();
    expect(await journal(h.held.store)).toEqual(['"theirs"', '"later"']);
  });

  it("answers UNAVAILABLE when the store is down and ABORTED on a conflict, restarting each time", async () => {
    const h = entityHarness();
    const a = h.addItem("apple");
    await settle();
    h.held.failNext(new Error("disk on fire"));
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"apple"'] });
    await settle();
    expect(a.error?.code).toBe(Code.Unavailable);
    expect(a.error?.message).toMatch(/could not store the state of .*c1: disk on fire/);
    const b = h.addItem("banana");
    await settle();
    h.held.failNext(new SequenceConflictError(ref, 0));
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"banana"'] });
    await settle();
    expect(b.error?.code).toBe(Code.Aborted);
    expect(h.observed.restarts).toEqual(["store_failure", "store_failure"]);
  });
});

describe("timeouts", () => {
  it("restarts an entity whose function does not answer within the command timeout, then runs the commands behind it", async () => {
    const h = entityHarness({ commandTimeoutMs: 1_000 });
    const hang = h.addItem("hang");
    const behind = h.addItem("behind");
    await settle();
    expect(h.fn.unanswered).toHaveLength(2);
    h.clock.advance(999);
    expect(hang.settled).toBe(false);
    h.clock.advance(1);
    await settle();
    expect(hang.error?.code).toBe(Code.DeadlineExceeded);
    expect(hang.error?.message).toMatch(
      /did not answer .*AddItem on entity 'c1' within 1000 ms \(runtime option --command-timeout-ms\)/,
    );
    expect(h.observed.restarts).toEqual(["command_timeout"]);
    // The command behind it runs again on a new channel.
    expect(h.fn.open).toHaveLength(1);
    const again = h.fn.unanswered;
    expect(again.map((c) => c.product)).toEqual(["behind"]);
    h.fn.reply(again[0]!, { events: ['"behind"'] });
    await settle();
    expect(behind.error).toBeUndefined();
    expect(await journal(h.held.store)).toEqual(['"behind"']);
  });

  it("ignores a late reply on the channel it closed", async () => {
    const h = entityHarness({ commandTimeoutMs: 1_000 });
    h.addItem("slow");
    await settle();
    const old = h.fn.unanswered[0]!;
    h.clock.advance(1_000);
    await settle();
    h.fn.reply(old, { events: ['"late"'] });
    await settle();
    expect(await journal(h.held.store)).toEqual([]);
  });

  it("refuses a queued command whose deadline passed before it could be sent, without sending it", async () => {
    const h = entityHarness({ commandTimeoutMs: 10_000 });
    for (let i = 0; i < PIPELINE_WINDOW; i++) h.addItem(`p${i}`, 10_000);
    const short = h.addItem("short", 100);
    await settle();
    expect(h.fn.unanswered).toHaveLength(PIPELINE_WINDOW);
    h.clock.advance(200);
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"p0"'] });
    await settle();
    expect(short.error?.code).toBe(Code.DeadlineExceeded);
    expect(h.fn.commands()).toHaveLength(PIPELINE_WINDOW);
  });
});

describe("client deadlines and the command timeout", () => {
  it("answers DEADLINE_EXCEEDED to a client whose deadline passes while the function has the command; the command completes and stands, no restart", async () => {
    const h = entityHarness({ commandTimeoutMs: 10_000 });
    const short = h.addItem("short", 100);
    await settle();
    h.clock.advance(100);
    await settle();
    expect(short.error?.code).toBe(Code.DeadlineExceeded);
    expect(short.error?.message).toMatch(/not cancelled: it completes, and its outcome stands/);
    expect(h.observed.restarts).toEqual([]);
    // The function answers later: the outcome is kept, on the same channel.
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"short"'] });
    const next = h.addItem("next");
    await settle();
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"next"'] });
    await settle();
    expect(next.error).toBeUndefined();
    expect(await journal(h.held.store)).toEqual(['"short"', '"next"']);
    expect(h.fn.log.filter((l) => l === "init")).toHaveLength(1);
    expect(h.fn.log).not.toContain("close");
  });

  it("never restarts for 200 commands with a 1 ms deadline", async () => {
    const h = entityHarness({ commandTimeoutMs: 10_000 });
    const cmds = Array.from({ length: 200 }, (_, i) => h.addItem(`p${i}`, 1));
    for (let round = 0; round < 20; round++) {
      await settle();
      h.clock.advance(1);
      for (const c of h.fn.unanswered) h.fn.reply(c, { events: [JSON.stringify(c.product)] });
    }
    await settle();
    expect(cmds.every((c) => c.settled)).toBe(true);
    expect(h.observed.restarts).toEqual([]);
    // Whatever reached the function completed; nothing else did.
    const sent = new Set(h.fn.commands().map((c) => c.product));
    const stored = (await journal(h.held.store)).map((e) => JSON.parse(e) as string);
    expect(new Set(stored)).toEqual(sent);
  });

  it("runs the effects of a command whose client has gone, within the runtime's timeout", async () => {
    const h = entityHarness({ commandTimeoutMs: 10_000 });
    h.addItem("short", 100);
    await settle();
    h.clock.advance(150);
    await settle();
    const effect = create(SideEffectSchema, {
      serviceName: ShoppingCart.typeName,
      method: "GetCart",
      synchronous: true,
    });
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"short"'], effects: [effect] });
    await settle();
    expect(h.dispatched).toHaveLength(1);
    expect(h.dispatched[0]!.deadline).toBe(h.clock.now() + 10_000);
  });

  it("times each command from when it is the oldest in flight, not from when it was sent", async () => {
    const h = entityHarness({ commandTimeoutMs: 1_000 });
    const first = h.addItem("first", 60_000);
    const second = h.addItem("second", 60_000);
    await settle();
    h.clock.advance(900);
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"first"'] });
    h.clock.advance(900); // 1,800 ms after it was sent, 900 ms as the oldest
    await settle();
    expect(second.settled).toBe(false);
    expect(h.observed.restarts).toEqual([]);
    h.clock.advance(100);
    await settle();
    expect(first.error).toBeUndefined();
    expect(second.error?.code).toBe(Code.DeadlineExceeded);
    expect(h.observed.restarts).toEqual(["command_timeout"]);
  });

  it("logs every restart with its cause", async () => {
    const h = entityHarness({ commandTimeoutMs: 1_000 });
    h.addItem("hang");
    await settle();
    h.clock.advance(1_000);
    h.addItem("next");
    await settle();
    h.fn.reply(h.fn.unanswered[0]!, {
      failure: { code: Code.Internal, message: "x" },
      restart: true,
    });
    await settle();
    const restarts = h.observed.logs.filter((l) => l.reason !== undefined);
    expect(restarts.map((l) => [l.reason, l.entity, l.method])).toEqual([
      ["command_timeout", "shoppingcart.v1.ShoppingCart/c1", "AddItem"],
      ["function_failure", "shoppingcart.v1.ShoppingCart/c1", "AddItem"],
    ]);
    expect(String(restarts[0]!.msg)).toMatch(
      /entity restarted \(command timeout\): the user function did not answer/,
    );
  });
});

describe("the activation limit", () => {
  it("refuses an activation past --max-activations with RESOURCE_EXHAUSTED, and frees its slot after each activation", async () => {
    const limit = new ActivationLimit(1);
    const h = entityHarness({ activations: limit });
    expect(limit.acquire("another entity")).toBeUndefined();
    const refused = h.addItem("apple");
    await settle();
    expect(refused.error?.code).toBe(Code.ResourceExhausted);
    expect(refused.error?.message).toMatch(
      /cannot activate shoppingcart.v1.ShoppingCart\/c1 now: 1 entities are activating .*--max-activations is 1/,
    );
    expect(h.observed.metrics.limits).toEqual(["max-activations"]);
    limit.release();
    const ok = h.addItem("apple");
    await settle();
    expect(limit.active).toBe(0);
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"apple"'] });
    await settle();
    expect(ok.error).toBeUndefined();
  });
});

describe("restarts", () => {
  it("a failure with restart fails that command, re-initialises from the journal and runs the others again", async () => {
    const h = entityHarness();
    const a = h.addItem("apple");
    await settle();
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"apple"'] });
    await settle();
    const bad = h.addItem("bad");
    const next = h.addItem("next");
    await settle();
    const [b] = h.fn.unanswered;
    h.fn.reply(b!, {
      failure: { code: Code.Internal, message: "event handler threw" },
      restart: true,
    });
    await settle();
    expect(a.error).toBeUndefined();
    expect(bad.error).toEqual({ code: Code.Internal, message: "event handler threw" });
    expect(h.observed.restarts).toEqual(["function_failure"]);
    const channel = h.fn.open[0]!;
    expect(h.fn.replayed(channel)).toEqual(['"apple"']);
    const rerun = h.fn.unanswered;
    expect(rerun).toHaveLength(1);
    expect(rerun[0]!.channel).toBe(channel);
    h.fn.reply(rerun[0]!, { events: ['"next"'] });
    await settle();
    expect(next.error).toBeUndefined();
    expect(await journal(h.held.store)).toEqual(['"apple"', '"next"']);
  });

  it("a failure without restart fails only that command and keeps the channel", async () => {
    const h = entityHarness();
    const bad = h.addItem("bad");
    const good = h.addItem("good");
    await settle();
    const [b, g] = h.fn.unanswered;
    h.fn.reply(b!, { failure: { code: Code.FailedPrecondition, message: "checked out" } });
    h.fn.reply(g!, { events: ['"good"'] });
    await settle();
    expect(bad.error?.code).toBe(Code.FailedPrecondition);
    expect(good.error).toBeUndefined();
    expect(h.observed.restarts).toEqual([]);
    expect(h.fn.log.filter((l) => l === "init")).toHaveLength(1);
  });

  it("a channel failure fails the command it names and re-runs the others", async () => {
    const h = entityHarness();
    const one = h.addItem("one");
    const two = h.addItem("two");
    await settle();
    const [c1, c2] = h.fn.unanswered;
    h.fn.failChannel(c2!, Code.Internal, "sdk state corrupt");
    await settle();
    expect(two.error?.message).toBe("sdk state corrupt");
    expect(one.settled).toBe(false);
    expect(h.observed.restarts).toEqual(["channel_failure"]);
    const rerun = h.fn.unanswered;
    expect(rerun).toHaveLength(1);
    expect(rerun[0]!.id).not.toBe(c1!.id);
    h.fn.reply(rerun[0]!, { events: ['"one"'] });
    await settle();
    expect(one.error).toBeUndefined();
  });

  it("an invalid reply (wrong payload type) fails with INTERNAL, persists nothing and restarts", async () => {
    const h = entityHarness();
    const a = h.addItem("apple");
    await settle();
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"apple"'], payload: cartAny() });
    await settle();
    expect(a.error?.code).toBe(Code.Internal);
    expect(a.error?.message).toMatch(
      /replied with .*Cart, but the method returns google.protobuf.Empty/,
    );
    expect(h.observed.restarts).toEqual(["invalid_reply"]);
    expect(await journal(h.held.store)).toEqual([]);
  });

  it("a lost stream fails the commands in flight with UNAVAILABLE; queued ones wait and re-activate", async () => {
    const h = entityHarness();
    const a = h.addItem("apple");
    await settle();
    h.fn.lose();
    await settle();
    expect(a.error?.code).toBe(Code.Unavailable);
    expect(a.error?.message).toMatch(/went away/);
    h.fn.up = true;
    const b = h.addItem("banana");
    await settle();
    h.fn.reply(h.fn.unanswered[0]!, { events: ['"banana"'] });
    await settle();
    expect(b.error).toBeUndefined();
    expect(h.observed.activations).toBe(2);
  });
});

describe("the mailbox", () => {
  it("refuses commands beyond its capacity with RESOURCE_EXHAUSTED naming the option", async () => {
    const h = entityHarness({ mailboxCapacity: 3 });
    const ok = [h.addItem("a"), h.addItem("b"), h.addItem("c")];
    const refused = h.addItem("d");
    await settle();
    expect(refused.error?.code).toBe(Code.ResourceExhausted);
    expect(refused.error?.message).toMatch(/mailbox capacity 3, runtime option --mailbox-capacity/);
    expect(ok.some((c) => c.settled)).toBe(false);
    expect(h.observed.metrics.rejections).toBe(1);
  });
});

describe("value entities", () => {
  it("writes only the last state of a group, with the version it saw", async () => {
    const h = entityHarness({ kind: "value" });
    const cmds = Array.from({ length: 4 }, (_, i) => h.addItem(`p${i}`));
    await settle();
    h.held.hold();
    const sent = h.fn.unanswered;
    h.fn.reply(sent[0]!, { state: "1" });
    await settle();
    for (const [i, c] of sent.slice(1).entries()) h.fn.reply(c, { state: String(i + 2) });
    await settle();
    h.held.release();
    await settle();
    expect(cmds.every((c) => c.settled && c.error === undefined)).toBe(true);
    expect(h.held.saves.map((s) => [s.expectedVersion, text(s.state?.value)])).toEqual([
      [0, "1"],
      [1, "4"],
    ]);
    expect(text((await h.held.store.loadValue(ref))?.state.value)).toBe("4");
  });
});

function ev(json: string) {
  return { typeUrl: "json.cairn.dev/Event", value: new TextEncoder().encode(JSON.stringify(json)) };
}

function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}
