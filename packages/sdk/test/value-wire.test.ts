import { afterEach, describe, expect, it } from "vitest";
import { create, fromBinary } from "@bufbuild/protobuf";
import { Code, ComponentKind, PROTOCOL_MAJOR_VERSION, RuntimeInfoSchema } from "@cairn/protocol";
import type { ValueEntityOut, ValueEntityReply } from "@cairn/protocol";
import { serve } from "../src/index.js";
import type { LogRecord, Server } from "../src/index.js";
import {
  ExpireRequestSchema,
  GetSessionRequestSchema,
  LoginRequestSchema,
  LogoutRequestSchema,
  SessionSchema,
  TouchRequestSchema,
} from "../../../examples/user-session/src/gen/usersession/v1/user_session_pb.js";
import { calc, fanout, session, UserSession } from "./fixtures/session.js";
import { discover, json, proto, unjson } from "./fixtures/wire.js";
import { NO_ANSWER, startProxy, ValueStream } from "./fixtures/wire-kinds.js";

const SERVICE = "usersession.v1.UserSession";
let server: Server | undefined;
let streams: ValueStream[] = [];
let logs: LogRecord[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function start(): Promise<number> {
  server = await serve({
    components: [session, fanout, calc],
    port: 0,
    logger: (r) => logs.push(r),
  });
  return server.port;
}

afterEach(async () => {
  for (const s of streams) s.close();
  streams = [];
  await server?.close();
  server = undefined;
  for (const c of cleanups.splice(0)) await c();
  logs = [];
});

function open(port: number): ValueStream {
  const s = new ValueStream(port);
  streams.push(s);
  return s;
}

function replyOf(out: ValueEntityOut | undefined): ValueEntityReply {
  if (out?.body.case !== "reply") throw new Error(`expected a reply, got ${out?.body.case}`);
  return out.body.value;
}

function sessionOf(reply: ValueEntityReply | undefined) {
  const action = reply?.clientAction?.action;
  if (action?.case !== "reply") throw new Error(`expected a reply, got ${action?.case}`);
  return fromBinary(SessionSchema, action.value.payload!.value);
}

const cmd = (channelId: bigint, id: bigint, name: string, payload: ReturnType<typeof proto>) => ({
  channelId,
  body: { case: "command" as const, value: { id, name, payload } },
});
const init = (channelId: bigint, entityId: string, state?: unknown) => ({
  channelId,
  body: {
    case: "init" as const,
    value: {
      serviceName: SERVICE,
      entityId,
      state: state === undefined ? undefined : json("State", state),
    },
  },
});

describe("serve(): discovery of value entities and actions", () => {
  it("announces each kind, with entity options only for entities", async () => {
    const port = await start();
    const spec = await discover(
      port,
      create(RuntimeInfoSchema, { protocolMajorVersion: PROTOCOL_MAJOR_VERSION }),
    );
    expect(spec.components).toEqual([
      expect.objectContaining({
        kind: ComponentKind.VALUE_ENTITY,
        serviceName: SERVICE,
        entity: expect.objectContaining({
          entityType: "session",
          passivationTimeout: expect.objectContaining({ seconds: 1n, nanos: 500_000_000 }),
        }),
      }),
      expect.objectContaining({
        kind: ComponentKind.ACTION,
        serviceName: "usersession.v1.SessionFanout",
      }),
      expect.objectContaining({ kind: ComponentKind.ACTION, serviceName: "test.calc.Calc" }),
    ]);
    expect(spec.components[1]?.entity).toBeUndefined();
  });
});

describe("serve(): value entities", () => {
  it("starts from the stored state, updates, deletes, and answers in order per channel", async () => {
    const s = open(await start());
    s.send(
      init(1n, "a", { userId: "ada", touches: 2 }),
      init(2n, "b"),
      cmd(1n, 1n, "Touch", proto(TouchRequestSchema, { sessionId: "a" })),
      cmd(2n, 1n, "Get", proto(GetSessionRequestSchema, { sessionId: "b" })),
      cmd(1n, 2n, "Logout", proto(LogoutRequestSchema, { sessionId: "a" })),
      cmd(1n, 3n, "Get", proto(GetSessionRequestSchema, { sessionId: "a" })),
    );
    const out = await s.waitFor(4);
    const a = out.filter((m) => m.channelId === 1n).map(replyOf);
    expect(a.map((r) => r.commandId)).toEqual([1n, 2n, 3n]);
    expect(a[0]?.stateAction?.action.case).toBe("update");
    expect(a[0]?.stateAction?.action.value).toMatchObject({ typeUrl: "json.cairn.dev/State" });
    expect(unjson(a[0]?.stateAction?.action.value as never)).toEqual({ userId: "ada", touches: 3 });
    expect(sessionOf(a[0]).userId).toBe("ada");
    expect(a[1]?.stateAction?.action.case).toBe("delete");
    expect(a[1]?.timers).toEqual([
      expect.objectContaining({
        action: { case: "cancel", value: expect.objectContaining({ name: "expire" }) },
      }),
    ]);
    // After the delete, the entity is back to its initial state.
    expect(a[2]?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.NotFound, message: "no session 'a'" },
    });
    expect(a[2]?.stateAction).toBeUndefined();
    const [b] = out.filter((m) => m.channelId === 2n).map(replyOf);
    expect(b?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.NotFound },
    });
  });

  it("sends the state, effects and timers of a successful command; a read sends no state action", async () => {
    const s = open(await start());
    s.send(
      init(1n, "s"),
      cmd(1n, 1n, "Login", proto(LoginRequestSchema, { sessionId: "s", userId: "ada" })),
      cmd(1n, 2n, "Get", proto(GetSessionRequestSchema, { sessionId: "s" })),
    );
    const [login, get] = (await s.waitFor(2)).map(replyOf);
    expect(unjson(login?.stateAction?.action.value as never)).toEqual({
      userId: "ada",
      touches: 0,
    });
    expect(login?.sideEffects).toEqual([
      expect.objectContaining({ serviceName: SERVICE, method: "Touch", synchronous: true }),
    ]);
    const timer = login?.timers[0]?.action;
    expect(timer?.case).toBe("schedule");
    expect(timer?.value).toMatchObject({
      name: "expire",
      dueEpochMs: 5_000n,
      serviceName: SERVICE,
      method: "Expire",
      payload: { typeUrl: "type.googleapis.com/usersession.v1.ExpireRequest" },
      metadata: { entries: [expect.objectContaining({ key: "x-why" })] },
    });
    expect(get?.stateAction).toBeUndefined();
    expect(get?.timers).toEqual([]);
    expect(sessionOf(get).userId).toBe("ada");
  });

  it("a failed command sends no state action, effect or timer, and changes nothing", async () => {
    const s = open(await start());
    s.send(
      init(1n, "s", { userId: "ada", touches: 0 }),
      cmd(1n, 1n, "Login", proto(LoginRequestSchema, { sessionId: "s", userId: "boom" })),
      cmd(1n, 2n, "Login", proto(LoginRequestSchema, { sessionId: "s", userId: "refused" })),
      cmd(1n, 3n, "Get", proto(GetSessionRequestSchema, { sessionId: "s" })),
    );
    const [boom, refused, get] = (await s.waitFor(3)).map(replyOf);
    for (const failed of [boom, refused]) {
      expect(failed?.stateAction).toBeUndefined();
      expect(failed?.sideEffects).toEqual([]);
      expect(failed?.timers).toEqual([]);
    }
    const failure = boom?.clientAction?.action.value as { code: number; message: string };
    expect(failure.code).toBe(Code.Internal);
    expect(failure.message).toMatch(/^internal error in UserSession\.Login \(correlation id /);
    const correlation = /correlation id ([^)]+)/.exec(failure.message)?.[1];
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "error", correlationId: correlation, entityId: "s" }),
    );
    expect(refused?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.PermissionDenied, message: "not you" },
    });
    expect(sessionOf(get).userId).toBe("ada");
  });

  it("ctx.call() reaches the runtime proxy learned at discovery, with the trace metadata", async () => {
    const seen: { traceparent: unknown; requestId: unknown }[] = [];
    const proxy = await startProxy(UserSession, {
      get: (req, md) => {
        seen.push({ traceparent: md.get("traceparent")[0], requestId: md.get("x-request-id")[0] });
        const id = (req as { sessionId: string }).sessionId;
        return create(SessionSchema, { sessionId: id, userId: "from-proxy", loggedIn: true });
      },
    });
    cleanups.push(proxy.close);
    const port = await start();
    const s = open(port);
    // Before discovery, no proxy address is known: a clear failure.
    s.send(init(1n, "s"), cmd(1n, 1n, "Expire", proto(ExpireRequestSchema, { sessionId: "s" })));
    const [unknown] = (await s.waitFor(1)).map(replyOf);
    expect(unknown?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.FailedPrecondition },
    });
    expect((unknown?.clientAction?.action.value as { message: string }).message).toMatch(
      /proxy address/,
    );
    await discover(
      port,
      create(RuntimeInfoSchema, {
        protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
        proxyAddress: proxy.address,
      }),
    );
    s.send({
      channelId: 1n,
      body: {
        case: "command",
        value: {
          id: 2n,
          name: "Expire",
          payload: proto(ExpireRequestSchema, { sessionId: "s" }),
          metadata: {
            entries: [
              { key: "traceparent", value: { case: "stringValue", value: "00-trace-span-01" } },
              { key: "x-request-id", value: { case: "stringValue", value: "req-7" } },
              { key: "authorization", value: { case: "stringValue", value: "secret" } },
            ],
          },
        },
      },
    });
    const [, called] = (await s.waitFor(2)).map(replyOf);
    expect(sessionOf(called)).toMatchObject({ sessionId: "other", userId: "from-proxy" });
    expect(seen).toEqual([{ traceparent: "00-trace-span-01", requestId: "req-7" }]);
  });

  it("ctx.call() fails with DEADLINE_EXCEEDED when the callee does not answer in time", async () => {
    const proxy = await startProxy(UserSession, { get: () => NO_ANSWER });
    cleanups.push(proxy.close);
    const port = await start();
    await discover(
      port,
      create(RuntimeInfoSchema, {
        protocolMajorVersion: PROTOCOL_MAJOR_VERSION,
        proxyAddress: proxy.address,
      }),
    );
    const s = open(port);
    s.send(init(1n, "s"), cmd(1n, 1n, "Expire", proto(ExpireRequestSchema, { sessionId: "s" })));
    const [r] = (await s.waitFor(1)).map(replyOf);
    expect(r?.clientAction?.action).toMatchObject({
      case: "failure",
      value: { code: Code.DeadlineExceeded },
    });
  });
});
