// Compile-time guarantees of the entity definition. The @ts-expect-error
// lines are checked by `tsc -p packages/sdk/tsconfig.test.json` (part of
// `npm test`); at run time vitest only checks that definitions are refused.
import { describe, expect, it } from "vitest";
import { eventSourcedEntity } from "../src/index.js";
import { ShoppingCart } from "./fixtures/cart.js";

type State = { n: number };
type Event = { type: "Inc" };
const base = {
  entityType: "counter",
  initialState: (): State => ({ n: 0 }),
  applyEvent: (s: State, _e: Event): State => ({ n: s.n + 1 }),
};
const ok = {
  addItem: () => {},
  removeItem: () => ({}),
  checkout: () => undefined,
  getCart: () => ({ checkedOut: true }),
};

// Never called: only its compilation matters.
export function compileTimeChecks(): void {
  eventSourcedEntity(ShoppingCart, { ...base, commands: ok });
  eventSourcedEntity(ShoppingCart, {
    ...base,
    // @ts-expect-error a handler for every method is required (getCart is missing)
    commands: { addItem: () => {}, removeItem: () => {}, checkout: () => {} },
  });
  eventSourcedEntity(ShoppingCart, {
    ...base,
    commands: {
      ...ok,
      // @ts-expect-error getCart returns a Cart, not nothing
      getCart: () => {},
    },
  });
  eventSourcedEntity(ShoppingCart, {
    ...base,
    commands: {
      ...ok,
      // @ts-expect-error checkedOut is a boolean
      getCart: () => ({ checkedOut: "yes" }),
    },
  });
  eventSourcedEntity(ShoppingCart, {
    ...base,
    commands: {
      ...ok,
      addItem: (cmd, _state, ctx) => {
        // @ts-expect-error AddLineItem has no field 'sku'
        void cmd.sku;
        // @ts-expect-error events must be of the entity's Event type
        ctx.emit({ type: "Dec" });
        // @ts-expect-error the forwarded request must be the method's input
        ctx.forward(ShoppingCart.method.getCart, { productId: "p" });
      },
    },
  });
}

describe("entity definition", () => {
  it("refuses handlers that match no method and invalid options", () => {
    const bogus = { ...ok, bogus: () => ({}) };
    expect(() => eventSourcedEntity(ShoppingCart, { ...base, commands: bogus })).toThrow(
      /handler 'bogus' matches no method/,
    );
    expect(() =>
      eventSourcedEntity(ShoppingCart, { ...base, entityType: " ", commands: ok }),
    ).toThrow(/entityType/);
    expect(() =>
      eventSourcedEntity(ShoppingCart, { ...base, snapshotEvery: -1, commands: ok }),
    ).toThrow(/snapshotEvery/);
  });
});
