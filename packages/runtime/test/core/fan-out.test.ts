/**
 * The fan-out bound: the calls one command has in flight at once, counted
 * by the caller id the runtime gives each command it sends to the function.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { CairnError, Code } from "@cairn/protocol";
import { describe, expect, it } from "vitest";
import { CALLER_KEY, FanOutLimit, newCallerId } from "../../src/core/fan-out.js";
import { Router } from "../../src/core/router.js";
import type { ActionCalls } from "../../src/core/action-calls.js";
import type { Invocation, InvocationResult, ServiceEntry } from "../../src/core/types.js";
import {
  GetShoppingCartSchema,
  ShoppingCart,
} from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";

const service: ServiceEntry = { desc: ShoppingCart, kind: "event_sourced_entity" };

/** An entity side that answers only when told to. */
function parkedEntities() {
  const waiting: Array<() => void> = [];
  return {
    waiting,
    handle: (): Promise<InvocationResult> =>
      new Promise((resolve) =>
        waiting.push(() => resolve({ output: new Uint8Array(), metadata: {} })),
      ),
  };
}

function getCart(cart: string, metadata: Record<string, string>): Invocation {
  const input = toBinary(GetShoppingCartSchema, create(GetShoppingCartSchema, { cartId: cart }));
  return { service, method: ShoppingCart.method.getCart, input, metadata };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

describe("the fan-out limit", () => {
  it("refuses a command's calls past the limit with RESOURCE_EXHAUSTED naming the option, and frees slots as calls end", async () => {
    let refused = 0;
    const entities = parkedEntities();
    const router = new Router(entities, {} as ActionCalls, new FanOutLimit(2, () => refused++));
    const caller = newCallerId();
    const md = { [CALLER_KEY]: caller, "cairn-call-chain": "usersession.v1.SessionFanout" };
    const a = router.dispatch(getCart("a", md));
    const b = router.dispatch(getCart("b", md));
    const c = router.dispatch(getCart("c", md)).catch((e: unknown) => e);
    const error = (await c) as CairnError;
    expect(error).toBeInstanceOf(CairnError);
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.message).toMatch(
      /usersession.v1.SessionFanout has 2 calls in flight, the limit per command \(runtime option --max-fan-out is 2\); this call to shoppingcart.v1.ShoppingCart\/GetCart was refused/,
    );
    expect(refused).toBe(1);
    // Another command has a budget of its own; a client call (no caller id) is not counted.
    const other = router.dispatch(getCart("d", { [CALLER_KEY]: newCallerId() }));
    const client = router.dispatch(getCart("e", {}));
    await settle();
    expect(entities.waiting).toHaveLength(4);
    entities.waiting.shift()!();
    await a;
    const again = router.dispatch(getCart("f", md));
    await settle();
    expect(entities.waiting).toHaveLength(4);
    for (const done of entities.waiting.splice(0)) done();
    await Promise.all([b, other, client, again]);
  });

  it("frees the slot of a call that fails", async () => {
    const router = new Router(
      { handle: () => Promise.reject(new CairnError(Code.NotFound, "no")) },
      {} as ActionCalls,
      new FanOutLimit(1),
    );
    const md = { [CALLER_KEY]: newCallerId() };
    for (let i = 0; i < 3; i++) {
      await expect(router.dispatch(getCart("a", md))).rejects.toMatchObject({
        code: Code.NotFound,
      });
    }
  });
});
