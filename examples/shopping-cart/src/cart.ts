/**
 * The shopping cart: an event-sourced entity per cart. Its state is the fold
 * of three events; a checked-out cart refuses changes.
 */
import { CommandError, Code, eventSourcedEntity } from "@cairn/sdk";
import { ShoppingCart } from "./gen/shoppingcart/v1/shopping_cart_pb.js";

/** Something that happened to a cart; stored as JSON in the journal. */
export type CartEvent =
  | { type: "ItemAdded"; productId: string; name: string; quantity: number }
  | { type: "ItemRemoved"; productId: string }
  | { type: "CheckedOut" };

/** The state of one cart (plain JSON, snapshotted every 100 events). */
export interface CartState {
  readonly items: Readonly<Record<string, { readonly name: string; readonly quantity: number }>>;
  readonly checkedOut: boolean;
}

/** Folds one event into the state, returning a new state. */
export function applyCartEvent(state: CartState, event: CartEvent): CartState {
  switch (event.type) {
    case "ItemAdded": {
      const quantity = (state.items[event.productId]?.quantity ?? 0) + event.quantity;
      return {
        ...state,
        items: { ...state.items, [event.productId]: { name: event.name, quantity } },
      };
    }
    case "ItemRemoved": {
      const items = { ...state.items };
      delete items[event.productId];
      return { ...state, items };
    }
    case "CheckedOut":
      return { ...state, checkedOut: true };
  }
}

/** The most of one product a cart line holds: `LineItem.quantity` is an int32. */
export const MAX_QUANTITY = 2_147_483_647;

function refuseIfCheckedOut(state: CartState, cartId: string): void {
  if (state.checkedOut) {
    throw new CommandError(
      Code.FailedPrecondition,
      `cart '${cartId}' is checked out and cannot change`,
    );
  }
}

/** The shopping-cart entity, served by `main.ts`. */
export const cart = eventSourcedEntity(ShoppingCart, {
  entityType: "shopping-cart",
  snapshotEvery: 100,
  initialState: (): CartState => ({ items: {}, checkedOut: false }),
  applyEvent: applyCartEvent,
  commands: {
    addItem(cmd, state, ctx) {
      refuseIfCheckedOut(state, cmd.cartId);
      if (cmd.productId === "")
        throw new CommandError(Code.InvalidArgument, "productId must not be empty");
      if (cmd.quantity <= 0) {
        throw new CommandError(
          Code.InvalidArgument,
          `quantity must be positive, got ${cmd.quantity} for product '${cmd.productId}'`,
        );
      }
      // Quantities are int32 on the wire: a sum beyond it could never be read back.
      const held = state.items[cmd.productId]?.quantity ?? 0;
      if (held + cmd.quantity > MAX_QUANTITY) {
        throw new CommandError(
          Code.OutOfRange,
          `cannot add ${cmd.quantity} of product '${cmd.productId}': the cart holds ${held} and a line holds at most ${MAX_QUANTITY}`,
        );
      }
      ctx.emit({
        type: "ItemAdded",
        productId: cmd.productId,
        name: cmd.name,
        quantity: cmd.quantity,
      });
    },
    removeItem(cmd, state, ctx) {
      refuseIfCheckedOut(state, cmd.cartId);
      if (state.items[cmd.productId] === undefined) {
        throw new CommandError(
          Code.NotFound,
          `product '${cmd.productId}' is not in cart '${cmd.cartId}'`,
        );
      }
      ctx.emit({ type: "ItemRemoved", productId: cmd.productId });
    },
    getCart(_cmd, state) {
      return {
        items: Object.entries(state.items)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([productId, item]) => ({ productId, name: item.name, quantity: item.quantity })),
        checkedOut: state.checkedOut,
      };
    },
    checkout(cmd, state, ctx) {
      refuseIfCheckedOut(state, cmd.cartId);
      ctx.emit({ type: "CheckedOut" });
    },
  },
});
