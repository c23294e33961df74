/**
 * The sample over HTTP/JSON against real processes: a runtime (SQLite) and
 * the sample's user function.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { http, startFunction, startRuntime, tempDir } from "./harness.js";
import type { Proc } from "./harness.js";

let fn: Proc;
let rt: Proc;
let url: string;
let adminUrl: string;
let cleanup: () => void;

beforeAll(async () => {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  const f = await startFunction();
  fn = f.proc;
  const r = await startRuntime({
    functionPort: f.port,
    store: `${tmp.dir}/cairn.db`,
    args: ["--max-request-bytes", "4096"],
  });
  rt = r.proc;
  url = r.url;
  adminUrl = `http://127.0.0.1:${r.adminPort}`;
});

afterAll(async () => {
  await rt?.stop();
  await fn?.stop();
  cleanup?.();
});

describe("shopping cart over HTTP/JSON", () => {
  it("refuses an add that would overflow a line's int32 quantity; the cart stays readable", async () => {
    const add = (quantity: number) =>
      http("POST", `${url}/carts/overflow/items`, { productId: "p", name: "P", quantity });
    expect((await add(2_147_483_647)).status).toBe(200);
    const refused = await add(1);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ status: "OUT_OF_RANGE" });
    const cart = await http("GET", `${url}/carts/overflow`);
    expect(cart.status).toBe(200);
    expect(cart.body).toMatchObject({ items: [{ productId: "p", quantity: 2_147_483_647 }] });
  });

  it("adds, reads, removes items and checks out through the google.api.http routes", async () => {
    expect(
      (
        await http("POST", `${url}/carts/h1/items`, {
          productId: "apple",
          name: "Apple",
          quantity: 3,
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await http("POST", `${url}/carts/h1/items`, {
          productId: "pear",
          name: "Pear",
          quantity: 1,
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await http("POST", `${url}/carts/h1/items`, {
          productId: "apple",
          name: "Apple",
          quantity: 2,
        })
      ).status,
    ).toBe(200);
    const cart = await http("GET", `${url}/carts/h1`);
    expect(cart.status).toBe(200);
    expect(cart.body).toEqual({
      items: [
        { productId: "apple", name: "Apple", quantity: 5 },
        { productId: "pear", name: "Pear", quantity: 1 },
      ],
      checkedOut: false,
    });
    expect((await http("DELETE", `${url}/carts/h1/items/pear`)).status).toBe(200);
    expect((await http("POST", `${url}/carts/h1/checkout`, {})).status).toBe(200);
    expect(await http("GET", `${url}/carts/h1`)).toMatchObject({
      status: 200,
      body: { items: [{ productId: "apple", name: "Apple", quantity: 5 }], checkedOut: true },
    });
  });

  it("refuses changes to a checked-out cart with FAILED_PRECONDITION", async () => {
    await http("POST", `${url}/carts/h2/items`, { productId: "apple", name: "Apple", quantity: 1 });
    await http("POST", `${url}/carts/h2/checkout`, {});
    const res = await http("POST", `${url}/carts/h2/items`, {
      productId: "kiwi",
      name: "Kiwi",
      quantity: 1,
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: "FAILED_PRECONDITION" });
    expect(JSON.stringify(res.body)).toMatch(/checked out/);
  });

  it("serves POST /<package.Service>/<Method> for every method", async () => {
    const res = await http("POST", `${url}/shoppingcart.v1.ShoppingCart/AddItem`, {
      cartId: "h3",
      productId: "fig",
      name: "Fig",
      quantity: 2,
    });
    expect(res.status).toBe(200);
    const cart = await http("POST", `${url}/shoppingcart.v1.ShoppingCart/GetCart`, {
      cartId: "h3",
    });
    expect(cart.body).toEqual({
      items: [{ productId: "fig", name: "Fig", quantity: 2 }],
      checkedOut: false,
    });
  });

  it("keeps events in the journal, visible through the admin API", async () => {
    await http("POST", `${url}/carts/h4/items`, { productId: "plum", name: "Plum", quantity: 4 });
    const res = await fetch(`${adminUrl}/v1/entities/shoppingcart.v1.ShoppingCart/h4`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: Array<{ sequence: number; payload: unknown }> };
    expect(body.events).toHaveLength(1);
    expect(body.events[0]).toMatchObject({
      sequence: 1,
      payload: { productId: "plum", quantity: 4 },
    });
  });
});

describe("bad input over HTTP/JSON", () => {
  it("answers 404 naming an unknown method or route", async () => {
    const m = await http("POST", `${url}/shoppingcart.v1.ShoppingCart/Nope`, {});
    expect(m.status).toBe(404);
    expect(JSON.stringify(m.body)).toContain("Nope");
    const s = await http("POST", `${url}/no.such.Service/Method`, {});
    expect(s.status).toBe(404);
    expect(JSON.stringify(s.body)).toContain("no.such.Service");
    const r = await http("GET", `${url}/nowhere/at/all`);
    expect(r.status).toBe(404);
  });

  it("answers 400 for malformed JSON and wrong field types, naming the field", async () => {
    const bad = await http("POST", `${url}/carts/h5/items`, "{not json");
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ status: "INVALID_ARGUMENT" });
    const wrong = await http("POST", `${url}/carts/h5/items`, {
      productId: "a",
      name: "A",
      quantity: "many",
    });
    expect(wrong.status).toBe(400);
    expect(JSON.stringify(wrong.body)).toMatch(/quantity/);
  });

  it("answers 400 naming the entity key field when it is empty", async () => {
    const res = await http("POST", `${url}/shoppingcart.v1.ShoppingCart/AddItem`, {
      cartId: "",
      productId: "a",
      name: "A",
      quantity: 1,
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).toMatch(/cart_id.*empty/);
  });

  it("answers 413 for a payload over the configured limit", async () => {
    const res = await http("POST", `${url}/carts/h6/items`, {
      productId: "a",
      name: "x".repeat(10_000),
      quantity: 1,
    });
    expect(res.status).toBe(413);
    expect((await http("GET", `${url}/carts/h6`)).body).toEqual({ items: [], checkedOut: false });
  });

  it("passes a handler's typed error through and keeps the state from before", async () => {
    await http("POST", `${url}/carts/h7/items`, { productId: "a", name: "A", quantity: 1 });
    const res = await http("POST", `${url}/carts/h7/items`, {
      productId: "a",
      name: "A",
      quantity: -2,
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ status: "INVALID_ARGUMENT" });
    expect(JSON.stringify(res.body)).toMatch(/quantity/);
    expect((await http("GET", `${url}/carts/h7`)).body).toEqual({
      items: [{ productId: "a", name: "A", quantity: 1 }],
      checkedOut: false,
    });
  });
});
