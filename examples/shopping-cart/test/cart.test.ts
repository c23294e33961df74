/** Unit tests of the cart's business logic with the SDK testkit: no runtime, no network. */
import { Code } from "@cairn/sdk";
import { createEventSourcedTestKit } from "@cairn/sdk/testkit";
import { describe, expect, it } from "vitest";
import { cart, MAX_QUANTITY } from "../src/cart.js";

const apple = { cartId: "c1", productId: "apple", name: "Apple", quantity: 3 };

describe("shopping cart entity", () => {
  it("emits ItemAdded and sums quantities per product", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    const first = await kit.call("addItem", apple);
    expect(first.error).toBeUndefined();
    expect(first.events).toEqual([
      { type: "ItemAdded", productId: "apple", name: "Apple", quantity: 3 },
    ]);
    await kit.call("addItem", { ...apple, quantity: 2 });
    const got = await kit.call("getCart", { cartId: "c1" });
    expect(got.reply?.items.map((i) => ({ productId: i.productId, quantity: i.quantity }))).toEqual(
      [{ productId: "apple", quantity: 5 }],
    );
    expect(got.events).toEqual([]);
  });

  it("refuses a non-positive quantity with INVALID_ARGUMENT and changes nothing", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    await kit.call("addItem", apple);
    const r = await kit.call("addItem", { ...apple, quantity: 0 });
    expect(r.error?.code).toBe(Code.InvalidArgument);
    expect(r.error?.message).toMatch(/quantity must be positive/);
    expect(r.events).toEqual([]);
    expect(kit.sequence).toBe(1);
  });

  it("refuses with OUT_OF_RANGE an add that would overflow the int32 quantity, and changes nothing", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    expect(
      (await kit.call("addItem", { ...apple, quantity: MAX_QUANTITY - 1 })).error,
    ).toBeUndefined();
    expect((await kit.call("addItem", { ...apple, quantity: 1 })).error).toBeUndefined();
    const r = await kit.call("addItem", { ...apple, quantity: 1 });
    expect(r.error?.code).toBe(Code.OutOfRange);
    expect(r.error?.message).toMatch(/holds 2147483647 and a line holds at most 2147483647/);
    expect(r.events).toEqual([]);
    const got = await kit.call("getCart", { cartId: "c1" });
    expect(got.reply?.items[0]?.quantity).toBe(MAX_QUANTITY);
  });

  it("removes items and answers NOT_FOUND for a product not in the cart", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    await kit.call("addItem", apple);
    expect((await kit.call("removeItem", { cartId: "c1", productId: "apple" })).events).toEqual([
      { type: "ItemRemoved", productId: "apple" },
    ]);
    expect((await kit.call("removeItem", { cartId: "c1", productId: "apple" })).error?.code).toBe(
      Code.NotFound,
    );
    expect(kit.state.items).toEqual({});
  });

  it("refuses every change after checkout with FAILED_PRECONDITION", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    await kit.call("addItem", apple);
    expect((await kit.call("checkout", { cartId: "c1" })).events).toEqual([{ type: "CheckedOut" }]);
    for (const r of [
      await kit.call("addItem", apple),
      await kit.call("removeItem", { cartId: "c1", productId: "apple" }),
      await kit.call("checkout", { cartId: "c1" }),
    ]) {
      expect(r.error?.code).toBe(Code.FailedPrecondition);
    }
    expect((await kit.call("getCart", { cartId: "c1" })).reply?.checkedOut).toBe(true);
  });

  it("snapshots every 100 events and restores the same state from snapshot plus events", async () => {
    const kit = createEventSourcedTestKit(cart, { entityId: "c1" });
    for (let i = 0; i < 130; i++) await kit.call("addItem", { ...apple, productId: `p${i % 7}` });
    expect(kit.snapshot?.sequence).toBe(100);
    const before = kit.state;
    kit.restart();
    expect(kit.state).toEqual(before);
  });
});
