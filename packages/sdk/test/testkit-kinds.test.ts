import { describe, expect, it } from "vitest";
import { Code, eventSourcedEntity } from "../src/index.js";
import {
  createActionTestKit,
  createEventSourcedTestKit,
  createValueEntityTestKit,
} from "../src/testkit/index.js";
import { create } from "@bufbuild/protobuf";
import { CommandSchema } from "@cairn/protocol";
import { EventSourcedInstance } from "../src/eventsourced/instance.js";
import { silentLogger } from "../src/log.js";
import { ShoppingCart } from "./fixtures/cart.js";
import { proto } from "./fixtures/wire.js";
import { RemoveLineItemSchema } from "../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { calc, fanout, session, UserSession } from "./fixtures/session.js";

describe("value entity testkit", () => {
  it("records the state change, effects and timers, and a failure drops them all", async () => {
    const kit = createValueEntityTestKit(session, { entityId: "s1" });
    const ok = await kit.call("login", { sessionId: "s1", userId: "ada" });
    expect(ok.updated).toBe(true);
    expect(ok.state).toEqual({ userId: "ada", touches: 0 });
    expect(ok.effects).toEqual([
      expect.objectContaining({ method: UserSession.method.touch, synchronous: true }),
    ]);
    expect(ok.timers).toEqual([
      expect.objectContaining({ kind: "schedule", name: "expire", dueEpochMs: 5_000 }),
    ]);
    expect(
      (ok.timers[0] as unknown as { metadata: Map<string, string> }).metadata.get("x-why"),
    ).toBe("ttl");
    const before = kit.state;
    const boom = await kit.call("login", { sessionId: "s1", userId: "boom" });
    expect(boom.error?.code).toBe(Code.Internal);
    expect((boom.error?.cause as Error).message).toBe("kaboom after changes");
    expect([boom.updated, boom.effects, boom.timers]).toEqual([false, [], []]);
    expect(kit.state).toEqual(before);
  });

  it("starts from a given state, and deleteState returns to the initial one", async () => {
    const kit = createValueEntityTestKit(session, { state: { userId: "bob", touches: 4 } });
    expect((await kit.call("touch", { sessionId: "x" })).state).toEqual({
      userId: "bob",
      touches: 5,
    });
    const out = await kit.call("logout", { sessionId: "x" });
    expect(out.deleted).toBe(true);
    expect(out.timers).toEqual([{ kind: "cancel", name: "expire" }]);
    expect(kit.state).toBeNull();
    expect(kit.hasState).toBe(false);
  });

  it("answers ctx.call() from stubs, and says which stub is missing", async () => {
    const stubbed = createValueEntityTestKit(session, {
      calls: {
        "usersession.v1.UserSession/Get": (req: { sessionId: string }) => ({
          sessionId: req.sessionId,
          userId: "stub",
        }),
      },
    });
    const r = await stubbed.call("expire", { sessionId: "x" });
    expect(r.reply).toMatchObject({ sessionId: "other", userId: "stub" });
    expect(stubbed.calls.map((c) => c.path)).toEqual(["usersession.v1.UserSession/Get"]);
    const bare = await createValueEntityTestKit(session).call("expire", { sessionId: "x" });
    expect(bare.error?.code).toBe(Code.Unimplemented);
    expect(bare.error?.message).toMatch(/UserSession\/Get has no stub.*'calls' option/);
  });
});

describe("action testkit", () => {
  // Calc is described in code, so its kit is untyped: give it the shape of its results.
  type Loose = { reply?: { n: number }; replies: { n: number }[]; error?: { code: Code } };
  const kit = createActionTestKit(calc) as unknown as {
    call(method: string, input: unknown): Promise<Loose>;
  };

  it("runs each method kind", async () => {
    expect((await kit.call("double", { n: 4 })).reply).toMatchObject({ n: 8 });
    expect((await kit.call("count", { n: 3 })).replies.map((r) => r.n)).toEqual([1, 2, 3]);
    expect((await kit.call("sum", [{ n: 1 }, { n: 2 }])).reply).toMatchObject({ n: 3 });
    expect((await kit.call("echo", [{ n: 5 }, { n: 6 }])).replies.map((r) => r.n)).toEqual([5, 6]);
  });

  it("keeps the replies streamed before a failure", async () => {
    const r = await kit.call("count", { n: 99 });
    expect(r.replies.length).toBe(2);
    expect(r.error).toMatchObject({ code: Code.OutOfRange });
  });

  it("collects the effects and timers of a call", async () => {
    const fan = createActionTestKit(fanout, {
      calls: {
        "usersession.v1.UserSession/Touch": (req: { sessionId: string }) => ({
          sessionId: req.sessionId,
        }),
        "usersession.v1.UserSession/Get": (req: { sessionId: string }) => ({
          sessionId: req.sessionId,
        }),
      },
    });
    const r = await fan.call("touchAll", { sessionIds: ["a"] });
    expect(r.timers).toEqual([
      expect.objectContaining({
        kind: "schedule",
        name: "sweep",
        request: expect.objectContaining({ sessionIds: ["a"] }),
      }),
    ]);
    const w = await fan.call("watchSessions", { sessionIds: ["a", "b"] });
    expect(w.replies.map((s) => s.sessionId)).toEqual(["a", "b"]);
    expect(w.effects.map((e) => e.method.name)).toEqual(["Touch", "Touch"]);
  });
});

describe("event-sourced testkit: timers and calls", () => {
  const timed = eventSourcedEntity(ShoppingCart, {
    entityType: "timed",
    initialState: () => ({}),
    applyEvent: (s: object) => s,
    commands: {
      async addItem(cmd, _state, ctx) {
        ctx.timers.schedule(
          "remind",
          ShoppingCart.method.checkout,
          { cartId: cmd.cartId },
          { delayMs: 1_000 },
        );
        if (cmd.quantity < 0) throw new Error("after scheduling");
        await ctx.call(ShoppingCart.method.getCart, { cartId: "other" });
      },
      removeItem: (_cmd, _state, ctx) => ctx.timers.cancel("remind"),
      getCart: () => ({}),
      checkout: () => {},
    },
  });

  it("records timers with the events, none on failure, and answers calls from stubs", async () => {
    const kit = createEventSourcedTestKit(timed, {
      calls: { "shoppingcart.v1.ShoppingCart/GetCart": () => ({ checkedOut: true }) },
    });
    const before = Date.now();
    const r = await kit.call("addItem", { cartId: "c", productId: "p", quantity: 1 });
    expect(r.error).toBeUndefined();
    const [timer] = r.timers;
    expect(timer).toMatchObject({ kind: "schedule", name: "remind" });
    const due = (timer as { dueEpochMs: number }).dueEpochMs;
    expect(due).toBeGreaterThanOrEqual(before + 1_000);
    expect(due).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(kit.calls).toHaveLength(1);
    const failed = await kit.call("addItem", { cartId: "c", productId: "p", quantity: -1 });
    expect(failed.timers).toEqual([]);
    expect((await kit.call("removeItem", { cartId: "c" })).timers).toEqual([
      { kind: "cancel", name: "remind" },
    ]);
  });

  it("puts the timers in the event-sourced reply on the wire", async () => {
    const instance = new EventSourcedInstance(timed.definition, "c", silentLogger);
    const outcome = await instance.handle(
      create(CommandSchema, {
        id: 1n,
        name: "RemoveItem",
        payload: proto(RemoveLineItemSchema, { cartId: "c", productId: "p" }),
      }),
    );
    expect(outcome.reply.timers.map((t) => t.action)).toEqual([
      expect.objectContaining({
        case: "cancel",
        value: expect.objectContaining({ name: "remind" }),
      }),
    ]);
  });
});
