import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@cairn/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  AddLineItemSchema,
  CartSchema,
  CheckoutShoppingCartSchema,
  GetShoppingCartSchema,
  RemoveLineItemSchema,
} from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { hangUntilAbort, rejectWith, startIngress } from "./harness.js";
import type { Running } from "./harness.js";

let running: Running | undefined;
afterEach(async () => {
  await running?.ingress.close();
  running = undefined;
});

async function start(): Promise<Running> {
  running = await startIngress();
  return running;
}

describe("HTTP/JSON transcoding of google.api.http routes", () => {
  it("POST /carts/{cart_id}/items decodes body and path into AddLineItem", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/carts/c1/items`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-trace": "abc" },
      body: JSON.stringify({ productId: "apple", name: "Apple", quantity: 3 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    const inv = r.dispatcher.last();
    expect(inv.method.name).toBe("AddItem");
    expect(inv.service.desc.typeName).toBe("shoppingcart.v1.ShoppingCart");
    const msg = fromBinary(AddLineItemSchema, inv.input);
    expect(msg).toMatchObject({ cartId: "c1", productId: "apple", name: "Apple", quantity: 3 });
    expect(inv.metadata["x-trace"]).toBe("abc");
    expect(inv.metadata["content-length"]).toBeUndefined();
    expect(inv.deadline).toBeGreaterThan(Date.now());
  });

  it("DELETE /carts/{cart_id}/items/{product_id} fills both fields, percent-decoded", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/carts/c%201/items/green%2Fapple`, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(fromBinary(RemoveLineItemSchema, r.dispatcher.last().input)).toMatchObject({
      cartId: "c 1",
      productId: "green/apple",
    });
  });

  it("GET /carts/{cart_id} answers the Cart with implicit fields", async () => {
    const r = await start();
    r.dispatcher.answers.set("GetCart", () => ({
      output: toBinary(CartSchema, create(CartSchema)),
      metadata: { "x-reply": "yes" },
    }));
    const res = await fetch(`${r.url}/carts/c2`);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-reply")).toBe("yes");
    expect(await res.json()).toEqual({ items: [], checkedOut: false });
    expect(fromBinary(GetShoppingCartSchema, r.dispatcher.last().input).cartId).toBe("c2");
  });

  it("POST /carts/{cart_id}/checkout accepts an empty body", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/carts/c3/checkout`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(fromBinary(CheckoutShoppingCartSchema, r.dispatcher.last().input).cartId).toBe("c3");
  });

  it("GET with query parameters fills the remaining fields, never a path-bound one", async () => {
    const r = await start();
    const bad = await fetch(`${r.url}/carts/c4?nope=1`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).message).toContain("unknown query parameter 'nope'");
  });
});

describe("a field bound by the path is never taken from the query or the body", () => {
  const cases: Array<[string, string, string?]> = [
    ["GET", "/carts/A?cartId=B"],
    ["GET", "/carts/A?cart_id=B"],
    ["DELETE", "/carts/A/items/x?cartId=B"],
    ["DELETE", "/carts/A/items/x?productId=y"],
    ["POST", "/carts/A/items", JSON.stringify({ cartId: "B", productId: "p", quantity: 1 })],
    ["POST", "/carts/A/items", JSON.stringify({ cart_id: "B", productId: "p", quantity: 1 })],
  ];
  for (const [method, path, body] of cases) {
    it(`${method} ${path}${body === undefined ? "" : ` ${body}`} is 400 and reaches no entity`, async () => {
      const r = await start();
      const res = await fetch(`${r.url}${path}`, {
        method,
        ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
      });
      const json = (await res.json()) as { status: string; message: string };
      expect(res.status, json.message).toBe(400);
      expect(json.status).toBe("INVALID_ARGUMENT");
      expect(json.message).toMatch(/bound by the path|in the path/);
      expect(r.dispatcher.calls).toHaveLength(0);
    });
  }

  it("the same value in the path and the query or body is accepted, once", async () => {
    const r = await start();
    expect((await fetch(`${r.url}/carts/A?cartId=A`)).status).toBe(200);
    expect(fromBinary(GetShoppingCartSchema, r.dispatcher.last().input).cartId).toBe("A");
    const add = await fetch(`${r.url}/carts/A/items`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cart_id: "A", productId: "p", quantity: 2 }),
    });
    expect(add.status).toBe(200);
    expect(fromBinary(AddLineItemSchema, r.dispatcher.last().input)).toMatchObject({
      cartId: "A",
      productId: "p",
      quantity: 2,
    });
  });

  it("a body: * route takes no query parameters", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/carts/A/items?quantity=5`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ productId: "p", quantity: 1 }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toContain('body: "*"');
    expect(r.dispatcher.calls).toHaveLength(0);
  });
});

describe("POST /<Service>/<Method> with JSON", () => {
  it("decodes the whole message from the body", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/shoppingcart.v1.ShoppingCart/AddItem`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ cartId: "c9", productId: "pear", quantity: 2 }),
    });
    expect(res.status).toBe(200);
    expect(fromBinary(AddLineItemSchema, r.dispatcher.last().input)).toMatchObject({
      cartId: "c9",
      productId: "pear",
      quantity: 2,
    });
  });
});

describe("HTTP errors", () => {
  const post = (
    r: Running,
    path: string,
    body: string,
    type = "application/json",
  ): Promise<Response> =>
    fetch(`${r.url}${path}`, { method: "POST", headers: { "content-type": type }, body });

  it("malformed JSON is 400 INVALID_ARGUMENT", async () => {
    const r = await start();
    const res = await post(r, "/carts/c1/items", "{nope");
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toMatchObject({ code: 3, status: "INVALID_ARGUMENT" });
    expect(body.message).toContain("malformed JSON");
    expect(r.dispatcher.calls).toHaveLength(0);
  });

  it("a wrong field type is 400 naming the field", async () => {
    const r = await start();
    const res = await post(
      r,
      "/carts/c1/items",
      JSON.stringify({ productId: "apple", quantity: "abc" }),
    );
    expect(res.status).toBe(400);
    const { message } = await res.json();
    expect(message).toContain("shoppingcart.v1.ShoppingCart/AddItem");
    expect(message).toContain("shoppingcart.v1.AddLineItem.quantity");
  });

  it("an unknown field is 400", async () => {
    const r = await start();
    const res = await post(
      r,
      "/shoppingcart.v1.ShoppingCart/AddItem",
      JSON.stringify({ colour: "red" }),
    );
    expect(res.status).toBe(400);
    expect((await res.json()).message).toContain("colour");
  });

  it("no route is 404 naming method and path", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/nowhere/at/all`);
    expect(res.status).toBe(404);
    expect((await res.json()).message).toBe("no route matches GET /nowhere/at/all");
  });

  it("an unknown method or service on the method path is 404 naming it", async () => {
    const r = await start();
    const m = await post(r, "/shoppingcart.v1.ShoppingCart/Nope", "{}");
    expect(m.status).toBe(404);
    expect((await m.json()).message).toContain("shoppingcart.v1.ShoppingCart/Nope");
    const s = await post(r, "/foo.v1.Bar/Baz", "{}");
    expect(s.status).toBe(404);
    expect((await s.json()).message).toContain("foo.v1.Bar");
  });

  it("a method path asked with GET is 404 saying to use POST", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/shoppingcart.v1.ShoppingCart/GetCart`);
    expect(res.status).toBe(404);
    expect((await res.json()).message).toContain("is served with POST");
  });

  it("a body over maxRequestBytes is 413", async () => {
    running = await startIngress({ maxRequestBytes: 1024 });
    const res = await post(running, "/carts/c1/items", JSON.stringify({ name: "x".repeat(5000) }));
    expect(res.status).toBe(413);
    expect((await res.json()).status).toBe("RESOURCE_EXHAUSTED");
  });

  it("a compressed body is refused as UNIMPLEMENTED", async () => {
    const r = await start();
    const res = await fetch(`${r.url}/carts/c1/items`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-encoding": "gzip" },
      body: "{}",
    });
    expect(res.status).toBe(501);
    expect((await res.json()).message).toContain("content-encoding 'gzip'");
  });

  it("a wrong content type is 415", async () => {
    const r = await start();
    const res = await post(r, "/carts/c1/items", "a=b", "application/x-www-form-urlencoded");
    expect(res.status).toBe(415);
  });

  it.each([
    [Code.FailedPrecondition, 400, "FAILED_PRECONDITION"],
    [Code.NotFound, 404, "NOT_FOUND"],
    [Code.AlreadyExists, 409, "ALREADY_EXISTS"],
    [Code.ResourceExhausted, 429, "RESOURCE_EXHAUSTED"],
    [Code.Unauthenticated, 401, "UNAUTHENTICATED"],
    [Code.PermissionDenied, 403, "PERMISSION_DENIED"],
    [Code.Unavailable, 503, "UNAVAILABLE"],
    [Code.DeadlineExceeded, 504, "DEADLINE_EXCEEDED"],
    [Code.Unimplemented, 501, "UNIMPLEMENTED"],
  ])("dispatcher CairnError %s maps to HTTP %s", async (code, status, name) => {
    const r = await start();
    r.dispatcher.answers.set("Checkout", () => rejectWith(code, "cart 'c1' says no"));
    const res = await post(r, "/carts/c1/checkout", "");
    expect(res.status).toBe(status);
    expect(await res.json()).toEqual({ code, status: name, message: "cart 'c1' says no" });
  });

  it("anything else thrown is 500 INTERNAL without its text", async () => {
    const r = await start();
    r.dispatcher.answers.set("Checkout", () => Promise.reject(new Error("secret detail")));
    const res = await post(r, "/carts/c1/checkout", "");
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain("secret");
  });

  it("before discovery every call is 503 UNAVAILABLE", async () => {
    running = await startIngress({}, null);
    const res = await fetch(`${running.url}/carts/c1`);
    expect(res.status).toBe(503);
    expect((await res.json()).message).toContain("user function not discovered yet");
  });

  it("a dispatcher slower than connect-timeout-ms gets 504", async () => {
    const r = await start();
    r.dispatcher.answers.set("GetCart", hangUntilAbort);
    const res = await fetch(`${r.url}/carts/c1`, { headers: { "grpc-timeout": "50m" } });
    expect(res.status).toBe(504);
    expect(r.dispatcher.last().signal?.aborted).toBe(true);
  });
});
