/**
 * The ingress passes on the entity key it read from the request message it
 * decoded, on every protocol, so the router does not decode it again.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import {
  AddLineItemSchema,
  ShoppingCart,
} from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { startIngress } from "./harness.js";
import type { Running } from "./harness.js";

let running: Running | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

const item = { cartId: "c7", productId: "apple", name: "Apple", quantity: 1 };

describe("the entity key", () => {
  it("is passed on from HTTP/JSON routes and method paths", async () => {
    running = await startIngress();
    await fetch(`${running.url}/carts/c7/items`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ productId: "apple", name: "Apple", quantity: 1 }),
    });
    expect(running.dispatcher.last().entityKey).toBe("c7");
    await fetch(`${running.url}/shoppingcart.v1.ShoppingCart/AddItem`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(item),
    });
    expect(running.dispatcher.last().entityKey).toBe("c7");
  });

  it.each(["connect+proto", "grpc-web"] as const)("is passed on from %s", async (kind) => {
    running = await startIngress();
    const baseUrl = running.url;
    const transport =
      kind === "grpc-web"
        ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })
        : createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true });
    await createClient(ShoppingCart, transport).addItem(item);
    expect(running.dispatcher.last().entityKey).toBe("c7");
  });

  it("is passed on from gRPC", async () => {
    running = await startIngress();
    const client = new grpc.Client(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure());
    try {
      const bytes = Buffer.from(toBinary(AddLineItemSchema, create(AddLineItemSchema, item)));
      await new Promise<void>((resolve, reject) =>
        client.makeUnaryRequest(
          "/shoppingcart.v1.ShoppingCart/AddItem",
          (b: Buffer) => b,
          (b: Buffer) => b,
          bytes,
          (err) => (err ? reject(err) : resolve()),
        ),
      );
    } finally {
      client.close();
    }
    expect(running.dispatcher.last().entityKey).toBe("c7");
  });

  it("is left out when the key field is empty, so the router reports it", async () => {
    running = await startIngress();
    await fetch(`${running.url}/shoppingcart.v1.ShoppingCart/AddItem`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...item, cartId: "" }),
    });
    expect(running.dispatcher.last().entityKey).toBeUndefined();
  });
});
