import { afterEach, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary } from "@bufbuild/protobuf";
import {
  CAPABILITY_MULTIPLEXED_ACTIONS,
  Code,
  PROTOCOL_MAJOR_VERSION,
  RuntimeInfoSchema,
} from "@cairn/protocol";
import type { ActionResponse } from "@cairn/protocol";
import { serve } from "../src/index.js";
import type { LogRecord, Server } from "../src/index.js";
import {
  SessionSchema,
  TouchAllRequestSchema,
  TouchAllResultSchema,
  WatchSessionsRequestSchema,
} from "../../../examples/user-session/src/gen/usersession/v1/user_session_pb.js";
import { NumSchema } from "./fixtures/calc.js";
import { calc, endless, fanout, session, UserSession } from "./fixtures/session.js";
import { discover, proto, until } from "./fixtures/wire.js";
import { ActionsClient, startProxy } from "./fixtures/wire-kinds.js";

let server: Server | undefined;
let client: ActionsClient | undefined;
let logs: LogRecord[] = [];
const cleanups: (() => Promise<void>)[] = [];

/** Serves the components behind a fake proxy holding sessions "a" and "c". */
async function start(): Promise<ActionsClient> {
  const proxy = await startProxy(UserSession, {
    touch: (req) => answer(req, 2n),
    get: (req) => answer(req, 1n),
  });
  cleanups.push(proxy.close);
  server = await serve({
    components: [session, fanout, calc],
    port: 0,
    logger: (r) => logs.push(r),
  });
  await discover(
    server.port,
    create(RuntimeInfoSchema, {
      protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
      proxyAddress: proxy.address,
    }),
  );
  client = new ActionsClient(server.port);
  return client;
}

function answer(req: unknown, lastSeen: bigint) {
  const id = (req as { sessionId: string }).sessionId;
  if (id === "down") throw grpcError(grpc.status.UNAVAILABLE, "owner is moving");
  if (id !== "a" && id !== "c") throw grpcError(grpc.status.NOT_FOUND, `no session '${id}'`);
  return create(SessionSchema, { sessionId: id, loggedIn: true, lastSeenEpochMs: lastSeen });
}

/** An error as a grpc-js handler passes it to its callback. */
function grpcError(code: grpc.status, details: string): Error {
  return Object.assign(new Error(details), { code, details });
}

afterEach(async () => {
  client?.close();
  client = undefined;
  await server?.close();
  server = undefined;
  for (const c of cleanups.splice(0)) await c();
  logs = [];
});

const FANOUT = "usersession.v1.SessionFanout";
const CALC = "test.calc.Calc";
const num = (n: number) => proto(NumSchema, { n });

function payloadOf<T>(res: ActionResponse | undefined, decode: (b: Uint8Array) => T): T {
  const action = res?.clientAction?.action;
  if (action?.case !== "reply") throw new Error(`expected a reply, got ${action?.case}`);
  return decode(action.value.payload!.value);
}
const nOf = (res: ActionResponse | undefined) =>
  payloadOf(res, (b) => (fromBinary(NumSchema, b) as unknown as { n: number }).n);

describe("serve(): actions", () => {
  it("HandleUnary composes replies of ctx.call() and carries the timers", async () => {
    const c = await start();
    const res = await c.unary({
      serviceName: FANOUT,
      name: "TouchAll",
      payload: proto(TouchAllRequestSchema, { sessionIds: ["a", "b", "c"] }),
    });
    const result = payloadOf(res, (b) => fromBinary(TouchAllResultSchema, b));
    expect(result.touched.map((s) => [s.sessionId, s.lastSeenEpochMs])).toEqual([
      ["a", 2n],
      ["c", 2n],
    ]);
    expect(result.missing).toEqual(["b"]);
    expect(res.timers[0]?.action).toMatchObject({
      case: "schedule",
      value: { name: "sweep", serviceName: FANOUT, method: "TouchAll" },
    });
  });

  it("HandleMultiplexed answers each unary call on its channel, and the SDK announces it at discovery", async () => {
    const c = await start();
    const answers = await c.multiplexed([
      {
        serviceName: FANOUT,
        name: "TouchAll",
        payload: proto(TouchAllRequestSchema, { sessionIds: ["a"] }),
      },
      {
        serviceName: FANOUT,
        name: "TouchAll",
        payload: proto(TouchAllRequestSchema, { sessionIds: ["b", "c"] }),
      },
      { serviceName: "no.Such", name: "Thing", payload: proto(TouchAllRequestSchema, {}) },
    ]);
    const first = payloadOf(answers.get(1n), (b) => fromBinary(TouchAllResultSchema, b));
    expect(first.touched.map((s) => s.sessionId)).toEqual(["a"]);
    const second = payloadOf(answers.get(2n), (b) => fromBinary(TouchAllResultSchema, b));
    expect(second.missing).toEqual(["b"]);
    expect(answers.get(3n)?.clientAction?.action).toMatchObject({ case: "failure" });
    const spec = await discover(
      server!.port,
      create(RuntimeInfoSchema, { protocolMajorVersion: PROTOCOL_MAJOR_VERSION }),
    );
    expect(spec.serviceInfo?.capabilities).toContain(CAPABILITY_MULTIPLEXED_ACTIONS);
  });

  it("a failed call fails the action with the callee's code and message, and drops its timers", async () => {
    const c = await start();
    const res = await c.unary({
      serviceName: FANOUT,
      name: "TouchAll",
      payload: proto(TouchAllRequestSchema, { sessionIds: ["a", "down"] }),
    });
    expect(res.clientAction?.action).toEqual(
      expect.objectContaining({
        case: "failure",
        value: expect.objectContaining({ code: Code.Unavailable, message: "owner is moving" }),
      }),
    );
    expect(res.timers).toEqual([]);
    expect(res.sideEffects).toEqual([]);
  });

  it("HandleStreamedOut streams one response per yielded reply, each with its effects", async () => {
    const c = await start();
    const out = await c.streamedOut({
      serviceName: FANOUT,
      name: "WatchSessions",
      payload: proto(WatchSessionsRequestSchema, { sessionIds: ["a", "c"] }),
    });
    expect(out.map((r) => payloadOf(r, (b) => fromBinary(SessionSchema, b)).sessionId)).toEqual([
      "a",
      "c",
    ]);
    expect(out.map((r) => r.sideEffects.map((e) => e.method))).toEqual([["Touch"], ["Touch"]]);
  });

  it("a failing stream ends with a failure message and an OK status", async () => {
    const c = await start();
    const watched = await c.streamedOut({
      serviceName: FANOUT,
      name: "WatchSessions",
      payload: proto(WatchSessionsRequestSchema, { sessionIds: ["a", "b"] }),
    });
    expect(watched).toHaveLength(2);
    expect(watched[1]?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.NotFound, message: "no session 'b'" },
    });
    // The effect recorded before the failed call is dropped with it.
    expect(watched[1]?.sideEffects).toEqual([]);
    const counted = await c.streamedOut({ serviceName: CALC, name: "Count", payload: num(99) });
    expect(counted.slice(0, 2).map(nOf)).toEqual([1, 2]);
    expect(counted[2]?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.OutOfRange, message: "three is too many" },
    });
  });

  it("HandleUnary and HandleStreamedIn/HandleStreamed serve the matching method kinds", async () => {
    const c = await start();
    expect(nOf(await c.unary({ serviceName: CALC, name: "Double", payload: num(21) }))).toBe(42);
    const sum = await c.streamedIn([
      { serviceName: CALC, name: "Sum", payload: num(1) },
      { payload: num(2) },
      { serviceName: CALC, name: "Sum", payload: num(3) },
    ]);
    expect(nOf(sum)).toBe(6);
    const echoed = await c.streamed([
      { serviceName: CALC, name: "Echo", payload: num(7) },
      { payload: num(8) },
    ]);
    expect(echoed.map(nOf)).toEqual([7, 8]);
  });

  it("refuses a method called through the wrong shape, an unknown service and an empty stream", async () => {
    const c = await start();
    const wrong = await c.unary({ serviceName: CALC, name: "Count", payload: num(1) });
    expect(wrong.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.InvalidArgument },
    });
    expect((wrong.clientAction?.action.value as { message: string }).message).toMatch(
      /server_streaming.*HandleStreamedOut/,
    );
    const unknown = await c.unary({ serviceName: "no.Such", name: "X" });
    expect(unknown.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.NotFound },
    });
    const empty = await c.streamedIn([]);
    expect(empty.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.InvalidArgument },
    });
    const mixed = await c.streamedIn([
      { serviceName: CALC, name: "Sum", payload: num(1) },
      { serviceName: CALC, name: "Double", payload: num(2) },
    ]);
    expect(mixed.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.InvalidArgument },
    });
  });

  it("a client cancelling a server stream stops the handler", async () => {
    const c = await start();
    await c.cancelAfterFirst({ serviceName: CALC, name: "Count", payload: num(-1) });
    await until(
      () => endless.stopped,
      5_000,
      () => "the generator was not stopped after the client cancelled",
    );
  });
});
