import { describe, expect, it } from "vitest";
import { Code, CommandError, eventSourcedEntity } from "../src/index.js";
import { createEventSourcedTestKit } from "../src/testkit/index.js";
import { cart, cartEntity, ShoppingCart } from "./fixtures/cart.js";

const apple = { cartId: "c1", productId: "apple", name: "Apple", quantity: 3 };

describe("event-sourced testkit", () => {
  it("emits events, folds them into the state and replies", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    const r = await kit.call("addItem", apple);
    expect(r.error).toBeUndefined();
    expect(r.events).toEqual([
      { type: "ItemAdded", productId: "apple", name: "Apple", quantity: 3 },
    ]);
    expect(kit.state).toEqual({
      items: { apple: { name: "Apple", quantity: 3 } },
      checkedOut: false,
    });
    expect(kit.sequence).toBe(1);
    const got = await kit.call("getCart", { cartId: "c1" });
    expect(got.reply?.items).toEqual([
      expect.objectContaining({ productId: "apple", name: "Apple", quantity: 3 }),
    ]);
    expect(got.events).toEqual([]);
    expect(got.replyMetadata.get("x-items")).toBe("1");
  });

  it("emit applies the event at once, within the command", async () => {
    const kit = createEventSourcedTestKit(cart);
    const r = await kit.call("checkout", { cartId: "c1" });
    expect(r.error).toBeUndefined();
    expect(kit.state.checkedOut).toBe(true);
  });

  it("a CommandError fails the command with its code and message and changes nothing", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    await kit.call("addItem", apple);
    const before = kit.state;
    const r = await kit.call("addItem", { ...apple, quantity: 0 });
    expect(r.error).toBeInstanceOf(CommandError);
    expect(r.error?.code).toBe(Code.InvalidArgument);
    expect(r.error?.message).toBe("quantity must be positive, got 0");
    expect(r.events).toEqual([]);
    expect(r.reply).toBeUndefined();
    expect(kit.state).toBe(before);
  });

  it("an error thrown after emit discards the events and restores the state", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    await kit.call("addItem", apple);
    const before = kit.state;
    const r = await kit.call("addItem", { ...apple, productId: "pear", name: "boom" });
    expect(r.error?.code).toBe(Code.Internal);
    expect(r.error?.message).toMatch(
      /^internal error in ShoppingCart\.AddItem \(correlation id [0-9a-f-]{36}\)$/,
    );
    expect((r.error?.cause as Error).message).toBe("kaboom after emit");
    expect(r.restart).toBe(false);
    expect(r.events).toEqual([]);
    expect(kit.state).toBe(before);
    expect(kit.events).toHaveLength(1);
    expect(kit.sequence).toBe(1);
  });

  it("a handler mutating the state in place fails instead of corrupting it", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    const r = await kit.call("addItem", { ...apple, name: "mutate" });
    expect(r.error?.code).toBe(Code.Internal);
    expect((r.error?.cause as Error).name).toBe("TypeError");
    expect(kit.state).toEqual({ items: {}, checkedOut: false });
  });

  it("an event that cannot be encoded fails the command as in production", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    const r = await kit.call("addItem", { ...apple, name: "bigint" });
    expect(r.error?.code).toBe(Code.Internal);
    expect(String((r.error?.cause as Error).message)).toMatch(/cannot encode ItemAdded as JSON/);
    expect(kit.events).toEqual([]);
  });

  it("a throwing applyEvent fails with restart and the entity is re-activated from its journal", async () => {
    const logs: unknown[] = [];
    const kit = createEventSourcedTestKit(cart, { entityId: "c1", logger: (r) => logs.push(r) });
    await kit.call("addItem", apple);
    const r = await kit.call("addItem", { ...apple, productId: "poison" });
    expect(r.error?.code).toBe(Code.Internal);
    expect(r.restart).toBe(true);
    expect(r.events).toEqual([]);
    expect(logs).toEqual([
      expect.objectContaining({ level: "error", correlationId: expect.any(String) }),
    ]);
    expect(kit.state).toEqual({
      items: { apple: { name: "Apple", quantity: 3 } },
      checkedOut: false,
    });
    const next = await kit.call("addItem", apple);
    expect(next.error).toBeUndefined();
    expect(kit.state.items["apple"]?.quantity).toBe(6);
  });

  it("records forwards and effects with their decoded requests", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    await kit.call("addItem", apple);
    const removed = await kit.call("removeItem", { cartId: "c1", productId: "apple" });
    expect(removed.reply).toBeUndefined();
    expect(removed.forward?.method).toBe(ShoppingCart.method.getCart);
    expect(removed.forward?.request).toMatchObject({ cartId: "c1" });
    expect(removed.events).toEqual([{ type: "ItemRemoved", productId: "apple" }]);

    const withEffect = await kit.call("addItem", { ...apple, name: "effect" });
    expect(withEffect.effects).toEqual([
      expect.objectContaining({
        method: ShoppingCart.method.checkout,
        synchronous: true,
        request: expect.objectContaining({ cartId: "c1" }),
      }),
    ]);
  });

  it("a failed command drops its effects", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    const r = await kit.call("removeItem", { cartId: "c1", productId: "nothing" });
    expect(r.error?.code).toBe(Code.NotFound);
    expect(r.forward).toBeUndefined();
    expect(r.effects).toEqual([]);
  });

  it("snapshots when a command's events cross a multiple of snapshotEvery", async () => {
    const kit = createEventSourcedTestKit(cartEntity({ snapshotEvery: 2 }), { entityId: "c1" });
    const sequences: (number | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await kit.call("addItem", { ...apple, quantity: i + 1 });
      sequences.push(r.snapshot === undefined ? undefined : kit.sequence);
    }
    expect(sequences).toEqual([undefined, 2, undefined, 4, undefined]);
    expect(kit.snapshot?.sequence).toBe(4);
    expect(kit.snapshot?.state.items["apple"]?.quantity).toBe(1 + 2 + 3 + 4);
    // Re-activation from snapshot + later events gives the live state back.
    const live = kit.state;
    kit.restart();
    expect(kit.state).toEqual(live);
  });

  it("replays initial events before the first command", async () => {
    const kit = createEventSourcedTestKit(cart, {
      entityId: "c1",
      initialEvents: [
        { type: "ItemAdded", productId: "apple", name: "Apple", quantity: 2 },
        { type: "CheckedOut" },
      ],
    });
    expect(kit.sequence).toBe(2);
    const r = await kit.call("addItem", apple);
    expect(r.error?.code).toBe(Code.FailedPrecondition);
  });
});

describe("migrations", () => {
  it("upgrade replayed events before applyEvent sees them", () => {
    type V2 = { type: "ItemAdded"; productId: string; name: string; quantity: number };
    const seen: string[] = [];
    const migrating = eventSourcedEntity(ShoppingCart, {
      entityType: "migrating",
      initialState: (): { total: number } => ({ total: 0 }),
      applyEvent: (s: { total: number }, e: V2) => ({ total: s.total + e.quantity }),
      migrate: {
        event(event, typeUrl): V2 {
          seen.push(typeUrl);
          const old = event as { sku?: string; qty?: number } & Partial<V2>;
          return old.sku === undefined
            ? (old as V2)
            : { type: "ItemAdded", productId: old.sku, name: "", quantity: old.qty ?? 0 };
        },
      },
      commands: {
        addItem: () => {},
        removeItem: () => {},
        checkout: () => {},
        getCart: () => ({}),
      },
    });
    const legacy = { type: "ItemAdded", sku: "apple", qty: 2 } as unknown as V2;
    const kit = createEventSourcedTestKit(migrating, {
      initialEvents: [legacy, { type: "ItemAdded", productId: "b", name: "B", quantity: 1 }],
    });
    expect(kit.state).toEqual({ total: 3 });
    expect(seen).toEqual(["json.cairn.dev/ItemAdded", "json.cairn.dev/ItemAdded"]);
  });

  it("upgrade the snapshot on activation", async () => {
    type S = { total: number; version?: number };
    const entity = eventSourcedEntity(ShoppingCart, {
      entityType: "migrating",
      snapshotEvery: 1,
      initialState: (): S => ({ total: 0 }),
      applyEvent: (s: S, e: { type: "Added"; n: number }): S => ({ ...s, total: s.total + e.n }),
      migrate: { state: (state): S => ({ ...(state as S), version: 2 }) },
      commands: {
        addItem: (cmd, _s, ctx) => void ctx.emit({ type: "Added", n: cmd.quantity }),
        removeItem: () => {},
        checkout: () => {},
        getCart: () => ({}),
      },
    });
    const kit = createEventSourcedTestKit(entity);
    await kit.call("addItem", { quantity: 5 });
    expect(kit.state).toEqual({ total: 5 });
    kit.restart();
    expect(kit.state).toEqual({ total: 5, version: 2 });
  });
});
