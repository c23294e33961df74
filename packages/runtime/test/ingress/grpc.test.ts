import { createRequire } from "node:module";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Code } from "@cairn/protocol";
import { afterEach, describe, expect, it } from "vitest";
import {
  AddLineItemSchema,
  CartSchema,
  LineItemSchema,
} from "../../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { hangUntilAbort, rejectWith, shoppingCartCatalog, startIngress } from "./harness.js";
import type { Running } from "./harness.js";
import { libraryCatalog } from "./library.js";

let running: Running | undefined;
let client: grpc.Client | undefined;
afterEach(async () => {
  client?.close();
  client = undefined;
  await running?.ingress.close();
  running = undefined;
});

const identity = (b: Buffer): Buffer => b;

interface UnaryOutcome {
  error: grpc.ServiceError | null;
  value?: Buffer;
  headers?: grpc.Metadata;
}

function unary(
  r: Running,
  path: string,
  body: Uint8Array,
  md = new grpc.Metadata(),
  deadline?: Date,
): Promise<UnaryOutcome> {
  const c = (client ??= new grpc.Client(`127.0.0.1:${r.port}`, grpc.credentials.createInsecure()));
  return new Promise((resolve) => {
    let headers: grpc.Metadata | undefined;
    const call = c.makeUnaryRequest(
      path,
      identity,
      identity,
      Buffer.from(body),
      md,
      deadline === undefined ? {} : { deadline },
      (error, value) => resolve({ error, value, headers }),
    );
    call.on("metadata", (m: grpc.Metadata) => (headers = m));
  });
}

const ADD = "/shoppingcart.v1.ShoppingCart/AddItem";
const addItem = toBinary(
  AddLineItemSchema,
  create(AddLineItemSchema, { cartId: "c1", productId: "apple", name: "Apple", quantity: 3 }),
);

describe("gRPC ingress", () => {
  it("passes the request bytes, metadata and deadline to the dispatcher and returns the reply", async () => {
    running = await startIngress();
    const cart = create(CartSchema, {
      items: [create(LineItemSchema, { productId: "apple", quantity: 3 })],
    });
    running.dispatcher.answers.set("GetCart", () => ({
      output: toBinary(CartSchema, cart),
      metadata: { "x-reply": "ok", "x-data-bin": Buffer.from([1, 2]).toString("base64") },
    }));
    const md = new grpc.Metadata();
    md.set("x-trace", "t1");
    md.set("x-raw-bin", Buffer.from([0xff, 0x00]));
    const deadline = new Date(Date.now() + 5000);
    const out = await unary(running, ADD, addItem, md, deadline);
    expect(out.error).toBeNull();
    const inv = running.dispatcher.last();
    expect(Buffer.from(inv.input).equals(Buffer.from(addItem))).toBe(true);
    expect(inv.method.name).toBe("AddItem");
    expect(inv.metadata["x-trace"]).toBe("t1");
    expect(inv.metadata["x-raw-bin"]).toBe(Buffer.from([0xff, 0x00]).toString("base64"));
    expect(
      Object.keys(inv.metadata).some(
        (k) => k.startsWith("grpc-") || k === "content-type" || k === "te",
      ),
    ).toBe(false);
    expect(Math.abs((inv.deadline ?? 0) - deadline.getTime())).toBeLessThan(1000);

    const get = await unary(running, "/shoppingcart.v1.ShoppingCart/GetCart", new Uint8Array());
    expect(get.error).toBeNull();
    expect(fromBinary(CartSchema, get.value ?? Buffer.alloc(0)).items[0]?.productId).toBe("apple");
    expect(get.headers?.get("x-reply")).toEqual(["ok"]);
    expect(get.headers?.get("x-data-bin")).toEqual([Buffer.from([1, 2])]);
  });

  it("answers UNIMPLEMENTED naming an unknown method or service", async () => {
    running = await startIngress();
    const m = await unary(running, "/shoppingcart.v1.ShoppingCart/Nope", new Uint8Array());
    expect(m.error?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(m.error?.details).toContain("shoppingcart.v1.ShoppingCart/Nope");
    const s = await unary(running, "/foo.v1.Bar/Baz", new Uint8Array());
    expect(s.error?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(s.error?.details).toContain("foo.v1.Bar");
  });

  it("answers INVALID_ARGUMENT for malformed protobuf, naming the message type", async () => {
    running = await startIngress();
    const out = await unary(running, ADD, Buffer.from([0x0a, 0x50, 0x01]));
    expect(out.error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(out.error?.details).toContain("shoppingcart.v1.AddLineItem");
    expect(running.dispatcher.calls).toHaveLength(0);
  });

  it("answers RESOURCE_EXHAUSTED for a message over maxRequestBytes", async () => {
    running = await startIngress({ maxRequestBytes: 1024 });
    const big = toBinary(
      AddLineItemSchema,
      create(AddLineItemSchema, { cartId: "c1", name: "x".repeat(5000) }),
    );
    const out = await unary(running, ADD, big);
    expect(out.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it.each([
    Code.FailedPrecondition,
    Code.NotFound,
    Code.InvalidArgument,
    Code.Unavailable,
    Code.Aborted,
  ])("maps a dispatcher CairnError %s to its status", async (code) => {
    running = await startIngress();
    running.dispatcher.answers.set("AddItem", () => rejectWith(code, "no, because"));
    const out = await unary(running, ADD, addItem);
    expect(out.error?.code).toBe(code);
    expect(out.error?.details).toBe("no, because");
  });

  it("maps anything else to INTERNAL", async () => {
    running = await startIngress();
    running.dispatcher.answers.set("AddItem", () => Promise.reject(new TypeError("boom")));
    const out = await unary(running, ADD, addItem);
    expect(out.error?.code).toBe(grpc.status.INTERNAL);
  });

  it("answers UNAVAILABLE before discovery, then serves once the catalog appears", async () => {
    running = await startIngress({}, null);
    const before = await unary(running, ADD, addItem);
    expect(before.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(before.error?.details).toContain("user function not discovered yet");
    running.catalog.current = shoppingCartCatalog();
    const after = await unary(running, ADD, addItem);
    expect(after.error).toBeNull();
  });

  it("follows a catalog change on a live connection (a redeploy)", async () => {
    running = await startIngress();
    expect((await unary(running, ADD, addItem)).error).toBeNull();
    running.catalog.current = libraryCatalog();
    const gone = await unary(running, ADD, addItem);
    expect(gone.error?.code).toBe(grpc.status.UNIMPLEMENTED);
    const added = await unary(running, "/test.v1.Library/GetBook", new Uint8Array());
    expect(added.error).toBeNull();
    expect(running.dispatcher.last().service.desc.typeName).toBe("test.v1.Library");
  });

  it("answers UNIMPLEMENTED for streaming methods when the dispatcher cannot stream", async () => {
    running = await startIngress({}, libraryCatalog());
    const c = (client = new grpc.Client(
      `127.0.0.1:${running.port}`,
      grpc.credentials.createInsecure(),
    ));
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const stream = c.makeServerStreamRequest(
        "/test.v1.Library/Watch",
        identity,
        identity,
        Buffer.alloc(0),
      );
      stream.on("data", () => {});
      stream.on("error", resolve);
    });
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain("streaming methods are not served");
    const res = await fetch(`http://127.0.0.1:${running.port}/test.v1.Library/Watch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(501);
  });

  it("ends a call without grpc-timeout at defaultTimeoutMs with DEADLINE_EXCEEDED", async () => {
    running = await startIngress({ defaultTimeoutMs: 50 });
    running.dispatcher.answers.set("AddItem", hangUntilAbort);
    const out = await unary(running, ADD, addItem);
    expect(out.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(running.dispatcher.last().signal?.aborted).toBe(true);
  });

  it("aborts the invocation's signal when the client cancels", async () => {
    running = await startIngress();
    let started!: () => void;
    const dispatched = new Promise<void>((r) => (started = r));
    running.dispatcher.answers.set("AddItem", (inv) => {
      started();
      return hangUntilAbort(inv);
    });
    client = new grpc.Client(`127.0.0.1:${running.port}`, grpc.credentials.createInsecure());
    const call = client.makeUnaryRequest(ADD, identity, identity, Buffer.from(addItem), () => {});
    await dispatched;
    call.cancel();
    const deadline = Date.now() + 5000;
    while (running.dispatcher.last().signal?.aborted !== true && Date.now() < deadline)
      await new Promise((r) => setImmediate(r));
    expect(running.dispatcher.last().signal?.aborted).toBe(true);
  });
});

describe("gRPC server reflection", () => {
  const require = createRequire(import.meta.url);
  const protoPath =
    require.resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");

  function reflect(r: Running, request: object): Promise<Record<string, unknown>> {
    const def = protoLoader.loadSync(protoPath, {
      longs: String,
      enums: String,
      bytes: Buffer,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              addr: string,
              creds: grpc.ChannelCredentials,
            ) => grpc.Client & {
              ServerReflectionInfo(): grpc.ClientDuplexStream<object, Record<string, unknown>>;
            };
          };
        };
      };
    };
    const c = new pkg.grpc.reflection.v1.ServerReflection(
      `127.0.0.1:${r.port}`,
      grpc.credentials.createInsecure(),
    );
    client = c;
    return new Promise((resolve, reject) => {
      const stream = c.ServerReflectionInfo();
      stream.on("data", (m: Record<string, unknown>) => {
        resolve(m);
        stream.end();
      });
      stream.on("error", reject);
      stream.write(request);
    });
  }

  it("lists the catalog's services", async () => {
    running = await startIngress();
    const reply = await reflect(running, { listServices: "" });
    const services = (reply.listServicesResponse as { service: { name: string }[] }).service.map(
      (s) => s.name,
    );
    expect(services).toContain("shoppingcart.v1.ShoppingCart");
  });

  it("returns the file declaring a service, with its imports", async () => {
    running = await startIngress();
    const reply = await reflect(running, { fileContainingSymbol: "shoppingcart.v1.ShoppingCart" });
    const files = (
      reply.fileDescriptorResponse as { fileDescriptorProto: Buffer[] }
    ).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const cart = files.find((f) => f.name === "shoppingcart/v1/shopping_cart.proto");
    expect(cart?.service[0]?.method.map((m) => m.name)).toEqual([
      "AddItem",
      "RemoveItem",
      "GetCart",
      "Checkout",
    ]);
    expect(files.map((f) => f.name)).toContain("google/protobuf/empty.proto");
  });
});
