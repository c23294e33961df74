import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, getOption } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { createFileRegistry } from "@bufbuild/protobuf";
import {
  Code,
  ComponentKind,
  PROTOCOL_MAJOR_VERSION,
  RuntimeInfoSchema,
  UserFunctionErrorSchema,
} from "@cairn/protocol";
import type { EventSourcedOut, EventSourcedReply } from "@cairn/protocol";
import { eventSourcedEntity, serve } from "../src/index.js";
import type { LogRecord, Server } from "../src/index.js";
import { http } from "../../../examples/shopping-cart/src/gen/google/api/annotations_pb.js";
import {
  AddLineItemSchema,
  CartSchema,
  GetShoppingCartSchema,
  RemoveLineItemSchema,
} from "../../../examples/shopping-cart/src/gen/shoppingcart/v1/shopping_cart_pb.js";
import { cart, cartEntity, ShoppingCart } from "./fixtures/cart.js";
import {
  discover,
  reportError,
  EntityStream,
  json,
  proto,
  unjson,
  until,
} from "./fixtures/wire.js";

const SERVICE = "shoppingcart.v1.ShoppingCart";
let server: Server | undefined;
let streams: EntityStream[] = [];
let logs: LogRecord[] = [];

async function start(
  components: Parameters<typeof serve>[0]["components"] = [cart],
): Promise<number> {
  server = await serve({ components, port: 0, logger: (r) => logs.push(r) });
  return server.port;
}

afterEach(async () => {
  for (const s of streams) s.close();
  streams = [];
  await server?.close();
  server = undefined;
  logs = [];
});

function open(port: number): EntityStream {
  const s = new EntityStream(port);
  streams.push(s);
  return s;
}

const add = (productId: string, quantity: number, name = productId) =>
  proto(AddLineItemSchema, { cartId: "c", productId, name, quantity });

function replyOf(out: EventSourcedOut | undefined): EventSourcedReply {
  if (out?.body.case !== "reply") throw new Error(`expected a reply, got ${out?.body.case}`);
  return out.body.value;
}

describe("serve(): discovery", () => {
  it("announces the components and a descriptor set with the contracts and their options", async () => {
    const port = await start();
    const spec = await discover(
      port,
      create(RuntimeInfoSchema, {
        protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
        runtimeName: "test",
      }),
    );
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, spec.proto));
    const service = registry.getService(SERVICE);
    expect(service?.methods.map((m) => m.name)).toEqual([
      "AddItem",
      "RemoveItem",
      "GetCart",
      "Checkout",
    ]);
    const route = getOption(service!.methods[0]!, http);
    expect(route.pattern).toEqual({ case: "post", value: "/carts/{cart_id}/items" });
    expect(spec.components).toEqual([
      expect.objectContaining({
        kind: ComponentKind.EVENT_SOURCED_ENTITY,
        serviceName: SERVICE,
        entity: expect.objectContaining({
          entityType: "shopping-cart",
          snapshotEvery: 0,
          passivationTimeout: expect.objectContaining({ seconds: 30n }),
        }),
      }),
    ]);
    expect(spec.serviceInfo).toMatchObject({
      supportLibraryName: "@cairn/sdk",
      protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
    });
    expect(spec.serviceInfo?.serviceRuntime).toBe(`node ${process.version}`);
    expect(logs[0]).toMatchObject({ level: "info", port });
  });

  it("refuses a runtime speaking another major protocol version", async () => {
    const port = await start();
    const err = await discover(
      port,
      create(RuntimeInfoSchema, { protocolMajorVersion: PROTOCOL_MAJOR_VERSION + 1 }),
    ).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err?.details).toMatch(
      new RegExp(`v${PROTOCOL_MAJOR_VERSION + 1}.*v${PROTOCOL_MAJOR_VERSION}.*upgrade @cairn/sdk`),
    );
  });

  it("logs errors the runtime reports", async () => {
    const port = await start();
    await reportError(
      port,
      create(UserFunctionErrorSchema, {
        message: "bad reply",
        serviceName: SERVICE,
        entityId: "c1",
      }),
    );
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "error", serviceName: SERVICE, entityId: "c1" }),
    );
  });
});

describe("serve(): event-sourced entities", () => {
  it("answers commands of interleaved channels in order, each after its replay", async () => {
    const s = open(await start());
    s.send(
      { channelId: 1n, body: { case: "init", value: { serviceName: SERVICE, entityId: "a" } } },
      {
        channelId: 2n,
        body: {
          case: "init",
          value: {
            serviceName: SERVICE,
            entityId: "b",
            snapshot: {
              sequence: 5n,
              state: json("State", {
                items: { pear: { name: "Pear", quantity: 5 } },
                checkedOut: false,
              }),
            },
          },
        },
      },
      {
        channelId: 1n,
        body: {
          case: "event",
          value: {
            sequence: 1n,
            payload: json("ItemAdded", {
              type: "ItemAdded",
              productId: "apple",
              name: "Apple",
              quantity: 1,
            }),
          },
        },
      },
      {
        channelId: 1n,
        body: { case: "command", value: { id: 1n, name: "AddItem", payload: add("apple", 2) } },
      },
      {
        channelId: 2n,
        body: {
          case: "command",
          value: {
            id: 1n,
            name: "RemoveItem",
            payload: proto(GetShoppingCartSchema, { cartId: "b" }),
          },
        },
      },
    );
    s.send(
      {
        channelId: 2n,
        body: {
          case: "command",
          value: {
            id: 2n,
            name: "GetCart",
            payload: proto(GetShoppingCartSchema, { cartId: "b" }),
          },
        },
      },
      {
        channelId: 1n,
        body: {
          case: "command",
          value: {
            id: 2n,
            name: "GetCart",
            payload: proto(GetShoppingCartSchema, { cartId: "a" }),
          },
        },
      },
    );
    const out = await s.waitFor(4);
    const byChannel = (id: bigint) => out.filter((m) => m.channelId === id).map(replyOf);
    const [a1, a2] = byChannel(1n);
    expect(a1?.commandId).toBe(1n);
    expect(a1?.events.map((e) => [e.typeUrl, unjson(e)])).toEqual([
      [
        "json.cairn.dev/ItemAdded",
        { type: "ItemAdded", productId: "apple", name: "apple", quantity: 2 },
      ],
    ]);
    expect(a1?.clientAction?.action).toMatchObject({
      case: "reply",
      value: { payload: { typeUrl: "type.googleapis.com/google.protobuf.Empty" } },
    });
    expect(a2?.commandId).toBe(2n);
    const cartA =
      a2?.clientAction?.action.case === "reply"
        ? fromBinary(CartSchema, a2.clientAction.action.value.payload!.value)
        : undefined;
    expect(cartA?.items.map((i) => [i.productId, i.quantity])).toEqual([["apple", 3]]);

    // Channel 2: the first command's payload has the wrong type; the second still sees the snapshot state.
    const [b1, b2] = byChannel(2n);
    expect(b1?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.InvalidArgument },
    });
    expect(b1?.events).toEqual([]);
    const cartB =
      b2?.clientAction?.action.case === "reply"
        ? fromBinary(CartSchema, b2.clientAction.action.value.payload!.value)
        : undefined;
    expect(cartB?.items.map((i) => [i.productId, i.quantity])).toEqual([["pear", 5]]);
  });

  it("fails a throwing command without events, and the next command sees the old state", async () => {
    const s = open(await start());
    s.send(
      { channelId: 7n, body: { case: "init", value: { serviceName: SERVICE, entityId: "c" } } },
      {
        channelId: 7n,
        body: { case: "command", value: { id: 1n, name: "AddItem", payload: add("apple", 1) } },
      },
      {
        channelId: 7n,
        body: {
          case: "command",
          value: { id: 2n, name: "AddItem", payload: add("pear", 1, "boom") },
        },
      },
      {
        channelId: 7n,
        body: {
          case: "command",
          value: {
            id: 3n,
            name: "GetCart",
            payload: proto(GetShoppingCartSchema, { cartId: "c" }),
          },
        },
      },
    );
    const [, failed, got] = (await s.waitFor(3)).map(replyOf);
    expect(failed?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.Internal, restart: false },
    });
    const failure = failed?.clientAction?.action.value as { message: string };
    expect(failure.message).toMatch(/^internal error in ShoppingCart\.AddItem \(correlation id /);
    expect(failed?.events).toEqual([]);
    expect(failed?.snapshot).toBeUndefined();
    const correlation = /correlation id ([^)]+)/.exec(failure.message)?.[1];
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "error", correlationId: correlation }),
    );
    const state =
      got?.clientAction?.action.case === "reply"
        ? fromBinary(CartSchema, got.clientAction.action.value.payload!.value)
        : undefined;
    expect(state?.items.map((i) => i.productId)).toEqual(["apple"]);
  });

  it("sends a restart failure when applyEvent throws", async () => {
    const s = open(await start());
    s.send(
      { channelId: 1n, body: { case: "init", value: { serviceName: SERVICE, entityId: "c" } } },
      {
        channelId: 1n,
        body: { case: "command", value: { id: 1n, name: "AddItem", payload: add("poison", 1) } },
      },
    );
    const [r] = (await s.waitFor(1)).map(replyOf);
    expect(r?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.Internal, restart: true },
    });
    expect(r?.events).toEqual([]);
  });

  it("includes a snapshot when a command's events cross a multiple of snapshotEvery", async () => {
    const s = open(await start([cartEntity({ snapshotEvery: 3 })]));
    s.send(
      { channelId: 1n, body: { case: "init", value: { serviceName: SERVICE, entityId: "c" } } },
      {
        channelId: 1n,
        body: {
          case: "event",
          value: {
            sequence: 1n,
            payload: json("ItemAdded", {
              type: "ItemAdded",
              productId: "a",
              name: "A",
              quantity: 1,
            }),
          },
        },
      },
      ...[1n, 2n, 3n, 4n].map((id) => ({
        channelId: 1n,
        body: { case: "command" as const, value: { id, name: "AddItem", payload: add("a", 1) } },
      })),
    );
    const replies = (await s.waitFor(4)).map(replyOf);
    // Sequences after each command: 2, 3, 4, 5; only the one reaching 3 carries a snapshot.
    expect(replies.map((r) => r.snapshot !== undefined)).toEqual([false, true, false, false]);
    expect(replies[1]?.snapshot?.typeUrl).toBe("json.cairn.dev/State");
    expect(unjson(replies[1]?.snapshot)).toEqual({
      items: { a: { name: "a", quantity: 3 } },
      checkedOut: false,
    });
  });

  it("answers unknown methods, channels and services precisely", async () => {
    const s = open(await start());
    s.send(
      {
        channelId: 1n,
        body: { case: "init", value: { serviceName: "nope.Service", entityId: "x" } },
      },
      { channelId: 2n, body: { case: "command", value: { id: 9n, name: "GetCart" } } },
      { channelId: 3n, body: { case: "init", value: { serviceName: SERVICE, entityId: "x" } } },
      { channelId: 3n, body: { case: "command", value: { id: 1n, name: "Teleport" } } },
    );
    const out = await s.waitFor(3);
    expect(out.find((m) => m.channelId === 1n)?.body).toMatchObject({
      case: "failure",
      value: { code: Code.NotFound },
    });
    expect(out.find((m) => m.channelId === 2n)?.body).toMatchObject({
      case: "failure",
      value: { commandId: 9n },
    });
    const unknown = replyOf(out.find((m) => m.channelId === 3n));
    expect(unknown.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.Unimplemented },
    });
    expect((unknown.clientAction?.action.value as { message: string }).message).toMatch(/Teleport/);
  });

  it("runs the commands of a channel one at a time, even when a handler awaits", async () => {
    const s = open(await start());
    const get = proto(GetShoppingCartSchema, { cartId: "c" });
    s.send(
      { channelId: 4n, body: { case: "init", value: { serviceName: SERVICE, entityId: "c" } } },
      {
        channelId: 4n,
        body: {
          case: "event",
          value: {
            sequence: 1n,
            payload: json("ItemAdded", {
              type: "ItemAdded",
              productId: "apple",
              name: "Apple",
              quantity: 1,
            }),
          },
        },
      },
      {
        channelId: 4n,
        body: {
          case: "command",
          value: {
            id: 1n,
            name: "RemoveItem",
            payload: proto(RemoveLineItemSchema, { cartId: "c", productId: "apple" }),
          },
        },
      },
      {
        channelId: 4n,
        body: { case: "command", value: { id: 2n, name: "GetCart", payload: get } },
      },
    );
    const [removed, got] = (await s.waitFor(2)).map(replyOf);
    expect(removed?.commandId).toBe(1n);
    expect(removed?.clientAction?.action).toMatchObject({
      case: "forward",
      value: {
        serviceName: SERVICE,
        method: "GetCart",
        payload: { typeUrl: "type.googleapis.com/shoppingcart.v1.GetShoppingCart" },
      },
    });
    expect(got?.commandId).toBe(2n);
    const cartC =
      got?.clientAction?.action.case === "reply"
        ? fromBinary(CartSchema, got.clientAction.action.value.payload!.value)
        : undefined;
    expect(cartC?.items).toEqual([]);
  });

  it("fails the channel when its snapshot cannot be decoded", async () => {
    const s = open(await start());
    const bad = proto(GetShoppingCartSchema, { cartId: "c" });
    bad.typeUrl = "type.googleapis.com/no.such.Type";
    s.send(
      {
        channelId: 5n,
        body: {
          case: "init",
          value: { serviceName: SERVICE, entityId: "c", snapshot: { sequence: 3n, state: bad } },
        },
      },
      {
        channelId: 5n,
        body: {
          case: "command",
          value: {
            id: 1n,
            name: "GetCart",
            payload: proto(GetShoppingCartSchema, { cartId: "c" }),
          },
        },
      },
    );
    const [failure] = await s.waitFor(1);
    expect(failure?.body).toMatchObject({ case: "failure", value: { code: Code.Internal } });
    expect((failure?.body.value as { message: string }).message).toMatch(/no\.such\.Type/);
    s.send({ channelId: 5n, body: { case: "command", value: { id: 2n, name: "GetCart" } } });
    const out = await s.waitFor(2);
    expect(out[1]?.body).toMatchObject({
      case: "failure",
      value: { code: Code.NotFound, commandId: 2n },
    });
  });

  it("batches replies that are ready in the same tick into one frame", async () => {
    const s = open(await start());
    const messages = [];
    for (let ch = 1n; ch <= 50n; ch++) {
      messages.push({
        channelId: ch,
        body: { case: "init" as const, value: { serviceName: SERVICE, entityId: `e${ch}` } },
      });
      messages.push({
        channelId: ch,
        body: {
          case: "command" as const,
          value: { id: 1n, name: "AddItem", payload: add("a", 1) },
        },
      });
    }
    s.send(...messages);
    await s.waitFor(50);
    expect(s.frames.length).toBeLessThan(50);
  });

  it("close() answers the commands in flight and ends the stream", async () => {
    const s = open(await start());
    s.send(
      { channelId: 1n, body: { case: "init", value: { serviceName: SERVICE, entityId: "c" } } },
      {
        channelId: 1n,
        body: { case: "command", value: { id: 1n, name: "AddItem", payload: add("a", 1) } },
      },
    );
    await s.waitFor(1);
    await server?.close();
    server = undefined;
    expect(s.received).toHaveLength(1);
    await until(
      () => s.ended,
      5_000,
      () => "the stream did not end after close()",
    );
  });

  it("close() waits for a command still running in its handler", async () => {
    let entered = false;
    let open_: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open_ = resolve));
    const slow = eventSourcedEntity(ShoppingCart, {
      entityType: "slow",
      initialState: () => ({}),
      applyEvent: (s: object, _e: { type: "Added" }) => s,
      commands: {
        async addItem(_cmd, _state, ctx) {
          entered = true;
          await gate;
          ctx.emit({ type: "Added" });
        },
        removeItem: () => {},
        getCart: () => ({}),
        checkout: () => {},
      },
    });
    const s = open(await start([slow]));
    s.send(
      { channelId: 1n, body: { case: "init", value: { serviceName: SERVICE, entityId: "c" } } },
      {
        channelId: 1n,
        body: { case: "command", value: { id: 1n, name: "AddItem", payload: add("a", 1) } },
      },
    );
    await until(
      () => entered,
      5_000,
      () => "the handler was not entered",
    );
    const closed = server!.close();
    server = undefined;
    open_();
    await closed;
    const [reply] = (await s.waitFor(1)).map(replyOf);
    expect(reply?.events.map((e) => unjson(e))).toEqual([{ type: "Added" }]);
    await until(
      () => s.ended,
      5_000,
      () => "the stream did not end after close()",
    );
  });
});
