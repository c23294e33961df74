/**
 * The sample over gRPC against real processes, with grpc-js and with
 * `buf curl` (a third-party client that finds the schema by reflection).
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create, toBinary, fromBinary } from "@bufbuild/protobuf";
import { grpcServiceDefinition } from "@cairn/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AddLineItemSchema,
  CartSchema,
  CheckoutShoppingCartSchema,
  GetShoppingCartSchema,
  ShoppingCart,
} from "../src/gen/shoppingcart/v1/shopping_cart_pb.js";
import type { Cart } from "../src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { ROOT, startFunction, startRuntime, tempDir } from "./harness.js";
import type { Proc } from "./harness.js";

const run = promisify(execFile);
const Client = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(ShoppingCart),
  "ShoppingCart",
);
type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

let fn: Proc;
let rt: Proc;
let port: number;
let client: grpc.Client;
let cleanup: () => void;

function call<T>(method: string, request: unknown): Promise<T> {
  const fnc = (client as unknown as Record<string, Unary>)[method]!.bind(client);
  return new Promise((resolve, reject) =>
    fnc(request, (err, res) => (err ? reject(err) : resolve(res as T))),
  );
}

/** A raw call with arbitrary bytes, to send what a well-behaved client never would. */
function rawCall(path: string, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
  });
}

beforeAll(async () => {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  const f = await startFunction();
  fn = f.proc;
  const r = await startRuntime({ functionPort: f.port, store: `${tmp.dir}/cairn.db` });
  rt = r.proc;
  port = r.port;
  client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await rt?.stop();
  await fn?.stop();
  cleanup?.();
});

describe("shopping cart over gRPC", () => {
  it("adds items and reads the cart", async () => {
    await call(
      "addItem",
      create(AddLineItemSchema, { cartId: "g1", productId: "apple", name: "Apple", quantity: 2 }),
    );
    await call(
      "addItem",
      create(AddLineItemSchema, { cartId: "g1", productId: "apple", name: "Apple", quantity: 1 }),
    );
    const cart = await call<Cart>("getCart", create(GetShoppingCartSchema, { cartId: "g1" }));
    expect(cart.items).toEqual([
      expect.objectContaining({ productId: "apple", name: "Apple", quantity: 3 }),
    ]);
    expect(cart.checkedOut).toBe(false);
  });

  it("answers FAILED_PRECONDITION for a checked-out cart", async () => {
    await call("checkout", create(CheckoutShoppingCartSchema, { cartId: "g2" }));
    await expect(
      call(
        "addItem",
        create(AddLineItemSchema, { cartId: "g2", productId: "a", name: "A", quantity: 1 }),
      ),
    ).rejects.toMatchObject({
      code: grpc.status.FAILED_PRECONDITION,
    });
  });

  it("answers UNIMPLEMENTED naming an unknown method", async () => {
    const err = await rawCall("/shoppingcart.v1.ShoppingCart/Nope", Buffer.alloc(0)).catch(
      (e: grpc.ServiceError) => e,
    );
    expect(err).toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    expect((err as grpc.ServiceError).details).toContain("Nope");
  });

  it("answers INVALID_ARGUMENT for malformed protobuf", async () => {
    const err = await rawCall(
      "/shoppingcart.v1.ShoppingCart/AddItem",
      Buffer.from([0x0a, 0xff, 0xff, 0xff]),
    ).catch((e: grpc.ServiceError) => e);
    expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it("answers INVALID_ARGUMENT naming the key field when it is empty", async () => {
    const bytes = Buffer.from(
      toBinary(AddLineItemSchema, create(AddLineItemSchema, { productId: "a", quantity: 1 })),
    );
    const err = await rawCall("/shoppingcart.v1.ShoppingCart/AddItem", bytes).catch(
      (e: grpc.ServiceError) => e,
    );
    expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect((err as grpc.ServiceError).details).toMatch(/cart_id/);
  });

  it("serves reflection: buf curl finds the schema and calls the method", async () => {
    const buf = join(ROOT, "node_modules/.bin/buf");
    const url = `http://127.0.0.1:${port}/shoppingcart.v1.ShoppingCart/GetCart`;
    const { stdout } = await run(
      buf,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "-d", '{"cartId":"g1"}', url],
      { timeout: 30_000 },
    );
    expect(JSON.parse(stdout)).toMatchObject({ items: [{ productId: "apple", quantity: 3 }] });
    const bytes = Buffer.from(
      toBinary(GetShoppingCartSchema, create(GetShoppingCartSchema, { cartId: "g1" })),
    );
    const raw = fromBinary(
      CartSchema,
      await rawCall("/shoppingcart.v1.ShoppingCart/GetCart", bytes),
    );
    expect(raw.items[0]?.quantity).toBe(3);
  });
});
