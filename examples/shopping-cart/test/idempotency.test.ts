/**
 * Idempotency keys against real processes (issue 8): a repeat of a keyed
 * command gets the first answer without running again, over HTTP/JSON and
 * gRPC, concurrently, and across a kill -9 of the runtime between the first
 * attempt and its retry; a repeat with another body is refused.
 */
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { grpcServiceDefinition } from "@cairn/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { AddLineItemSchema, ShoppingCart } from "../src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { http, startFunction, startRuntime, tempDir } from "./harness.js";
import type { Proc } from "./harness.js";

const procs: Proc[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) c();
});

const FAULTY = join(import.meta.dirname, "fixtures/faulty-cart.ts");

async function system(store?: string, entry?: string) {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const f = await startFunction(0, entry);
  procs.push(f.proc);
  const location = store ?? `${tmp.dir}/cairn.db`;
  const r = await startRuntime({ functionPort: f.port, store: location });
  procs.push(r.proc);
  return { fn: f, rt: r, store: location, url: r.url, admin: `http://127.0.0.1:${r.adminPort}` };
}

async function journal(admin: string, cartId: string): Promise<string[]> {
  const res = await fetch(`${admin}/v1/entities/shoppingcart.v1.ShoppingCart/${cartId}`);
  if (res.status === 404) return [];
  const body = (await res.json()) as { events: Array<{ payload: { productId?: string } }> };
  return body.events.map((e) => e.payload.productId ?? "?");
}

const add = (url: string, cart: string, productId: string, key?: string, quantity = 1) =>
  http(
    "POST",
    `${url}/carts/${cart}/items`,
    { productId, name: productId, quantity },
    key === undefined ? {} : { "idempotency-key": key },
  );

describe("idempotency keys", () => {
  it("answers a repeat with the first reply, without running it again; a different body is refused", async () => {
    const { url, admin } = await system();
    const first = await add(url, "k1", "apple", "key-1");
    expect(first.status).toBe(200);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const again = await add(url, "k1", "apple", "key-1");
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await journal(admin, "k1")).toEqual(["apple"]);
    // Another body under the same key.
    const other = await add(url, "k1", "pear", "key-1");
    expect(other.status).toBe(400);
    expect(other.body).toMatchObject({ status: "FAILED_PRECONDITION" });
    expect(JSON.stringify(other.body)).toMatch(/idempotency-key 'key-1'.*different request/);
    // Keys are per entity: the same key on another cart is a new command.
    expect((await add(url, "k2", "pear", "key-1")).status).toBe(200);
    // Without a key, every call runs.
    expect((await add(url, "k1", "apple")).status).toBe(200);
    expect((await add(url, "k1", "apple")).status).toBe(200);
    expect(await journal(admin, "k1")).toEqual(["apple", "apple", "apple"]);
    // A malformed key is refused, naming the limit.
    const long = await add(url, "k1", "apple", "x".repeat(300));
    expect(long.status).toBe(400);
    expect(JSON.stringify(long.body)).toMatch(/idempotency-key is 300 characters long.*255/);
  });

  it("makes a retry after the client's deadline wait for the first attempt, which still runs, and get its reply", async () => {
    const { url, admin } = await system(undefined, FAULTY);
    const body = { productId: "slow-1", name: "slow", quantity: 1 };
    const headers = { "idempotency-key": "slow-key" };
    const first = await http("POST", `${url}/carts/d1/items`, body, {
      ...headers,
      "connect-timeout-ms": "300",
    });
    expect(first.status).toBe(504);
    // The command is still with the function: the retry must not run it again.
    const retry = await http("POST", `${url}/carts/d1/items`, body, headers);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await journal(admin, "d1")).toEqual(["slow-1"]);
  });

  it("runs concurrent repeats once: they wait for the first and get its reply", async () => {
    const { url, admin } = await system();
    const all = await Promise.all(Array.from({ length: 12 }, () => add(url, "c1", "plum", "same")));
    expect(all.map((r) => r.status)).toEqual(all.map(() => 200));
    expect(all.filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(11);
    expect(await journal(admin, "c1")).toEqual(["plum"]);
  });

  it("stores a failure and answers its repeat with it, even after the state changed", async () => {
    const { url, admin } = await system();
    const remove = () =>
      http("DELETE", `${url}/carts/f1/items/apple`, undefined, { "idempotency-key": "rm-1" });
    const failed = await remove();
    expect(failed.status).toBe(404);
    expect(failed.body).toMatchObject({ status: "NOT_FOUND" });
    // Run again now, the removal would succeed; its key's outcome is the failure.
    expect((await add(url, "f1", "apple")).status).toBe(200);
    const repeat = await remove();
    expect(repeat.status).toBe(404);
    expect(repeat.body).toEqual(failed.body);
    expect(await journal(admin, "f1")).toEqual(["apple"]);
  });

  it("takes the key from gRPC metadata too", async () => {
    const { rt, admin } = await system();
    const Client = grpc.makeGenericClientConstructor(
      grpcServiceDefinition(ShoppingCart),
      "ShoppingCart",
    );
    const client = new Client(`127.0.0.1:${rt.port}`, grpc.credentials.createInsecure());
    try {
      const addItem = (key: string) =>
        new Promise<grpc.Metadata>((resolve, reject) => {
          const md = new grpc.Metadata();
          md.set("idempotency-key", key);
          let headers = new grpc.Metadata();
          const callObj = (
            client as unknown as Record<
              string,
              (
                r: unknown,
                m: grpc.Metadata,
                cb: (e: grpc.ServiceError | null) => void,
              ) => grpc.ClientUnaryCall
            >
          ).addItem!.call(
            client,
            create(AddLineItemSchema, { cartId: "g1", productId: "fig", name: "fig", quantity: 2 }),
            md,
            (err) => (err ? reject(err) : resolve(headers)),
          );
          callObj.on("metadata", (m: grpc.Metadata) => (headers = m));
        });
      expect((await addItem("g-key")).get("idempotent-replayed")).toEqual([]);
      expect((await addItem("g-key")).get("idempotent-replayed")).toEqual(["true"]);
      expect(await journal(admin, "g1")).toEqual(["fig"]);
    } finally {
      client.close();
    }
  });

  it("answers a retry after a kill -9 of the runtime with the first reply; the journal holds one command", async () => {
    const { fn, rt, store } = await system();
    expect((await add(rt.url, "r1", "kiwi", "before-crash")).status).toBe(200);
    await rt.proc.kill9();
    const again = await startRuntime({ functionPort: fn.port, store });
    procs.push(again.proc);
    const retry = await add(again.url, "r1", "kiwi", "before-crash");
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(await journal(`http://127.0.0.1:${again.adminPort}`, "r1")).toEqual(["kiwi"]);
  });
});
