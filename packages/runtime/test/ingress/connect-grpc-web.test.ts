import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code as ConnectCode, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { Code } from "@cairn/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  AddLineItemSchema,
  CartSchema,
  LineItemSchema,
  ShoppingCart,
} from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { rejectWith, startIngress } from "./harness.js";
import type { Running } from "./harness.js";

let running: Running | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

type Kind = "connect+json" | "connect+proto" | "grpc-web";

function clientFor(r: Running, kind: Kind) {
  const baseUrl = r.url;
  const transport =
    kind === "grpc-web"
      ? createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })
      : createConnectTransport({
          baseUrl,
          httpVersion: "1.1",
          useBinaryFormat: kind === "connect+proto",
        });
  return createClient(ShoppingCart, transport);
}

const kinds: Kind[] = ["connect+json", "connect+proto", "grpc-web"];

describe.each(kinds)("%s", (kind) => {
  it("sends the request to the dispatcher and returns the reply with its headers", async () => {
    running = await startIngress();
    const cart = create(CartSchema, {
      items: [create(LineItemSchema, { productId: "apple", name: "Apple", quantity: 3 })],
      checkedOut: true,
    });
    running.dispatcher.answers.set("GetCart", () => ({
      output: toBinary(CartSchema, cart),
      metadata: { "x-reply": "ok" },
    }));
    const client = clientFor(running, kind);
    await client.addItem(
      { cartId: "c1", productId: "apple", name: "Apple", quantity: 3 },
      { headers: { "x-trace": "t1" } },
    );
    const inv = running.dispatcher.last();
    expect(fromBinary(AddLineItemSchema, inv.input)).toMatchObject({
      cartId: "c1",
      productId: "apple",
      quantity: 3,
    });
    expect(inv.metadata["x-trace"]).toBe("t1");
    let headers: Headers | undefined;
    const got = await client.getCart({ cartId: "c1" }, { onHeader: (h) => (headers = h) });
    expect(got.items[0]?.productId).toBe("apple");
    expect(got.checkedOut).toBe(true);
    expect(headers?.get("x-reply")).toBe("ok");
  });

  it("maps a dispatcher CairnError to the same code", async () => {
    running = await startIngress();
    running.dispatcher.answers.set("Checkout", () =>
      rejectWith(Code.FailedPrecondition, "cart 'c1' is checked out"),
    );
    const err = await clientFor(running, kind)
      .checkout({ cartId: "c1" })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(ConnectCode.FailedPrecondition);
    expect(err?.rawMessage).toBe("cart 'c1' is checked out");
  });

  it("answers UNAVAILABLE before discovery", async () => {
    running = await startIngress({}, null);
    const err = await clientFor(running, kind)
      .getCart({ cartId: "c1" })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(ConnectCode.Unavailable);
  });

  it("refuses a message over maxRequestBytes with RESOURCE_EXHAUSTED", async () => {
    running = await startIngress({ maxRequestBytes: 1024 });
    const err = await clientFor(running, kind)
      .addItem({ cartId: "c1", name: "x".repeat(5000) })
      .then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
    expect(err?.code).toBe(ConnectCode.ResourceExhausted);
  });
});

describe("Connect wire details", () => {
  it("writes Connect's error JSON with Connect's HTTP status", async () => {
    running = await startIngress();
    running.dispatcher.answers.set("Checkout", () => rejectWith(Code.FailedPrecondition, "no"));
    const res = await fetch(`${running.url}/shoppingcart.v1.ShoppingCart/Checkout`, {
      method: "POST",
      headers: { "content-type": "application/json", "connect-protocol-version": "1" },
      body: "{}",
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ code: "failed_precondition", message: "no" });
  });

  it("answers unimplemented for an unknown method", async () => {
    running = await startIngress();
    const res = await fetch(`${running.url}/shoppingcart.v1.ShoppingCart/Nope`, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body: new Uint8Array(),
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: "unimplemented" });
  });

  it("answers a CORS preflight of an allowed origin", async () => {
    running = await startIngress({ corsOrigins: "https://app.example" });
    const res = await fetch(`${running.url}/shoppingcart.v1.ShoppingCart/AddItem`, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-grpc-web",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-allow-headers")).toBe("content-type,x-grpc-web");
  });
});

describe("gRPC-Web text", () => {
  it("decodes and answers base64 bodies", async () => {
    running = await startIngress();
    const msg = toBinary(AddLineItemSchema, create(AddLineItemSchema, { cartId: "c7" }));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const res = await fetch(`${running.url}/shoppingcart.v1.ShoppingCart/AddItem`, {
      method: "POST",
      headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1" },
      body: frame.toString("base64"),
    });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.text(), "base64");
    expect(body.subarray(0, 5)).toEqual(Buffer.from([0, 0, 0, 0, 0]));
    expect(body.subarray(10).toString()).toContain("grpc-status:0");
    expect(fromBinary(AddLineItemSchema, running.dispatcher.last().input).cartId).toBe("c7");
  });
});
