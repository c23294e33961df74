import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Code, CommandError, eventSourcedEntity } from "../src/index.js";
import { createEventSourcedTestKit } from "../src/testkit/index.js";
import {
  CartSchema,
  LineItemSchema,
} from "../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import type {
  Cart,
  LineItem,
} from "../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { cartEntity, ShoppingCart } from "./fixtures/cart.js";

// A cart whose state and events are protobuf messages of the sample's file.
const protoCart = eventSourcedEntity(ShoppingCart, {
  entityType: "proto-cart",
  snapshotEvery: 2,
  initialState: (): Cart => create(CartSchema),
  applyEvent: (state: Cart, event: LineItem): Cart =>
    create(CartSchema, { ...state, items: [...state.items, event] }),
  commands: {
    addItem(cmd, _state, ctx) {
      ctx.emit(
        create(LineItemSchema, {
          productId: cmd.productId,
          name: cmd.name,
          quantity: cmd.quantity,
        }),
      );
    },
    removeItem: () => {
      throw new CommandError(Code.Unimplemented, "not supported");
    },
    getCart: (_cmd, state) => state,
    checkout: () => {},
  },
});

describe("protobuf events and states", () => {
  it("round-trips through type.googleapis.com payloads, snapshots included", async () => {
    const kit = createEventSourcedTestKit(protoCart, { entityId: "p" });
    await kit.call("addItem", { cartId: "p", productId: "a", name: "A", quantity: 1 });
    const r = await kit.call("addItem", { cartId: "p", productId: "b", name: "B", quantity: 2 });
    expect(r.events).toEqual([create(LineItemSchema, { productId: "b", name: "B", quantity: 2 })]);
    expect(r.snapshot?.$typeName).toBe("shoppingcart.v1.Cart");
    kit.restart();
    const got = await kit.call("getCart", { cartId: "p" });
    expect(got.reply?.items.map((i) => i.productId)).toEqual(["a", "b"]);
  });
});

describe("replay equals live state", () => {
  const command = fc.oneof(
    fc.record({
      kind: fc.constant("add" as const),
      productId: fc.constantFrom("a", "b", "c"),
      quantity: fc.integer({ min: -1, max: 5 }),
    }),
    fc.record({ kind: fc.constant("remove" as const), productId: fc.constantFrom("a", "b", "c") }),
    fc.record({ kind: fc.constant("checkout" as const) }),
  );

  it("re-activating from snapshot and journal gives the state the commands built", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(command, { maxLength: 30 }),
        fc.integer({ min: 0, max: 4 }),
        async (commands, every) => {
          const kit = createEventSourcedTestKit(cartEntity({ snapshotEvery: every }), {
            entityId: "c",
          });
          for (const c of commands) {
            if (c.kind === "add")
              await kit.call("addItem", {
                cartId: "c",
                productId: c.productId,
                name: c.productId,
                quantity: c.quantity,
              });
            else if (c.kind === "remove")
              await kit.call("removeItem", { cartId: "c", productId: c.productId });
            else await kit.call("checkout", { cartId: "c" });
          }
          const live = kit.state;
          expect(kit.sequence).toBe(kit.events.length);
          kit.restart();
          expect(kit.state).toEqual(live);
        },
      ),
      { numRuns: 100 },
    );
  });
});
