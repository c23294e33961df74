/**
 * The user-session sample against real processes: a value entity with a
 * durable expiry timer, an action that fans out with ctx.call and streams,
 * effects and timers across a runtime killed with SIGKILL, and timers whose
 * target disappears in a redeploy.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { ActionResponseSchema, Actions, Discovery, grpcServiceDefinition } from "@cairn/protocol";
import type { ActionCommand } from "@cairn/protocol";
import { buildSpec } from "@cairn/sdk";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import { sessionFanout } from "../src/fanout.js";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import {
  GetSessionRequestSchema,
  SessionFanout,
  TouchAllRequestSchema,
  TouchAllResultSchema,
  TouchRequestSchema,
  UserSession,
  WatchSessionsRequestSchema,
} from "../src/gen/usersession/v1/user_session_pb.js";
import type { Session } from "../src/gen/usersession/v1/user_session_pb.js";
import {
  PG_TEST_URL,
  ROOT,
  http,
  startFunction,
  startRuntime,
  tempDir,
  waitUntil,
} from "../../shopping-cart/test/harness.js";
import type { Proc } from "../../shopping-cart/test/harness.js";

const SAMPLE = join(import.meta.dirname, "../src/main.ts");
const CLI = join(ROOT, "packages/cli/dist/bin.js");
const run = promisify(execFile);
const FAULTY = join(import.meta.dirname, "fixtures/faulty.ts");
const procs: Proc[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) await c();
});

async function system(entry = SAMPLE) {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const fn = await startFunction(0, entry);
  procs.push(fn.proc);
  const store = `${tmp.dir}/cairn.db`;
  const rt = await startRuntime({ functionPort: fn.port, store });
  procs.push(rt.proc);
  return { fn, rt, store, url: rt.url, admin: `http://127.0.0.1:${rt.adminPort}` };
}

async function metric(admin: string, line: RegExp): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const found = text.split("\n").find((l) => line.test(l));
  return found === undefined ? 0 : Number(found.split(" ").pop());
}

const login = (url: string, id: string, userId: string, ttlSeconds = 0) =>
  http("POST", `${url}/sessions/${id}/login`, { userId, ttlSeconds });

describe("user sessions (value entity)", () => {
  it("logs in, reads, touches and logs out over HTTP and gRPC", async () => {
    const s = await system();
    const first = await login(s.url, "u1", "ann");
    expect(first).toMatchObject({
      status: 200,
      body: { sessionId: "u1", userId: "ann", loggedIn: true },
    });
    const touched = await http("POST", `${s.url}/sessions/u1/touch`, {});
    expect(
      Number((touched.body as { lastSeenEpochMs: string }).lastSeenEpochMs),
    ).toBeGreaterThanOrEqual(Number((first.body as { lastSeenEpochMs: string }).lastSeenEpochMs));
    const Client = grpc.makeGenericClientConstructor(
      grpcServiceDefinition(UserSession),
      "UserSession",
    );
    const client = new Client(`127.0.0.1:${s.rt.port}`, grpc.credentials.createInsecure());
    const got = await new Promise<Session>((resolve, reject) =>
      (
        client as unknown as Record<
          string,
          (r: unknown, cb: (e: Error | null, v: Session) => void) => void
        >
      ).get!.call(client, create(GetSessionRequestSchema, { sessionId: "u1" }), (e, v) =>
        e ? reject(e) : resolve(v),
      ),
    );
    client.close();
    expect(got).toMatchObject({ sessionId: "u1", userId: "ann", loggedIn: true });
    expect((await http("POST", `${s.url}/sessions/u1/logout`, {})).status).toBe(200);
    expect((await http("GET", `${s.url}/sessions/u1`)).status).toBe(404);
  });

  it("cairn inspect shows a value entity's state and version, finding the runtime from CAIRN_PORT and CAIRN_ADMIN_PORT", async () => {
    const s = await system();
    const env = {
      ...process.env,
      CAIRN_PORT: String(s.rt.port),
      CAIRN_ADMIN_PORT: String(s.rt.adminPort),
    };
    const cairn = async (...args: string[]) =>
      (await run(process.execPath, [CLI, ...args], { env, timeout: 20_000 })).stdout;
    await cairn("call", "UserSession/Login", '{"sessionId":"i1","userId":"ann","ttlSeconds":600}');
    await cairn("call", "UserSession/Touch", '{"sessionId":"i1"}');
    const shown = await cairn("inspect", "UserSession", "i1");
    expect(shown).toContain(
      "usersession.v1.UserSession i1 (type user-session, value entity, version 2, active)",
    );
    expect(shown).toContain('"userId": "ann"');
    expect(shown).not.toContain("events");
    const json = JSON.parse(await cairn("inspect", "UserSession", "i1", "--json")) as {
      kind: string;
      version: number;
      state: { userId: string };
    };
    expect(json).toMatchObject({ kind: "value_entity", version: 2, state: { userId: "ann" } });
    await cairn("call", "UserSession/Logout", '{"sessionId":"i1"}');
    expect(await cairn("inspect", "UserSession", "i1")).toContain(
      "state: none (never written, or deleted)",
    );
  });

  it("expires an idle session with a durable timer", async () => {
    const s = await system();
    await login(s.url, "u2", "bob", 1);
    await waitUntil(
      async () => (await http("GET", `${s.url}/sessions/u2`)).status === 404,
      15_000,
      "the session to expire",
    );
    // The timer is removed (and counted) right after its call succeeded, so poll.
    await waitUntil(
      async () => (await metric(s.admin, /^cairn_timer_firings_total\{outcome="ok"\}/)) >= 1,
      10_000,
      "the timer counted as fired",
    );
  });

  it("fires timers stored before a kill -9 of the runtime, after its restart", async () => {
    const s = await system();
    await login(s.url, "u3", "cat", 2);
    // Still there at the kill: its timer had not fired yet.
    expect((await http("GET", `${s.url}/sessions/u3`)).status).toBe(200);
    await s.rt.proc.kill9();
    const rt2 = await startRuntime({ functionPort: s.fn.port, store: s.store });
    procs.push(rt2.proc);
    // The restart may take longer than the ttl on a loaded machine, so the
    // session may be gone at once; what matters is that the new runtime fired it.
    await waitUntil(
      async () => (await http("GET", `${rt2.url}/sessions/u3`)).status === 404,
      15_000,
      "the session to expire after the restart",
    );
    await waitUntil(
      async () =>
        (await metric(
          `http://127.0.0.1:${rt2.adminPort}`,
          /^cairn_timer_firings_total\{outcome="ok"\}/,
        )) >= 1,
      10_000,
      "the restarted runtime to count the firing",
    );
  });
});

describe("on PostgreSQL", () => {
  it("stores sessions and fires their timers on the PostgreSQL store", async () => {
    const base = PG_TEST_URL;
    const schema = `cairn_us_${process.pid}_${Date.now()}`;
    cleanups.push(async () => {
      const client = new pg.Client({ connectionString: base });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await client.end();
    });
    const fn = await startFunction(0, SAMPLE);
    procs.push(fn.proc);
    const store = `${base}${base.includes("?") ? "&" : "?"}schema=${schema}`;
    const rt = await startRuntime({ functionPort: fn.port, store });
    procs.push(rt.proc);
    expect((await login(rt.url, "pg1", "ann", 2)).status).toBe(200);
    expect((await login(rt.url, "pg2", "bob")).status).toBe(200);
    await rt.proc.kill9();
    const rt2 = await startRuntime({ functionPort: fn.port, store });
    procs.push(rt2.proc);
    expect((await http("GET", `${rt2.url}/sessions/pg2`)).body).toMatchObject({
      userId: "bob",
      loggedIn: true,
    });
    await waitUntil(
      async () => (await http("GET", `${rt2.url}/sessions/pg1`)).status === 404,
      15_000,
      "pg1 to expire",
    );
    expect((await http("GET", `${rt2.url}/sessions/pg2`)).status).toBe(200);
  });
});

describe("session fan-out (action)", () => {
  it("composes replies of entities with ctx.call", async () => {
    const s = await system();
    await login(s.url, "f1", "ann");
    await login(s.url, "f2", "bob");
    const res = await http("POST", `${s.url}/sessions:touchAll`, {
      sessionIds: ["f1", "f2", "nobody"],
    });
    expect(res.status).toBe(200);
    const body = res.body as { touched: Array<{ sessionId: string }>; missing: string[] };
    expect(body.touched.map((t) => t.sessionId).sort()).toEqual(["f1", "f2"]);
    expect(body.missing).toEqual(["nobody"]);
  });

  it("counts action calls in the command metrics, like entity commands", async () => {
    const s = await system();
    const series = (method: string, code: string) =>
      new RegExp(
        `^cairn_commands_total\\{service="usersession.v1.SessionFanout",method="${method}",code="${code}"\\}`,
      );
    for (let i = 0; i < 3; i++) {
      expect(
        (await http("POST", `${s.url}/sessions:touchAll`, { sessionIds: ["m1"] })).status,
      ).toBe(200);
    }
    // A failure the function answers (an empty id) counts under its code.
    expect((await http("POST", `${s.url}/sessions:touchAll`, { sessionIds: [""] })).status).toBe(
      400,
    );
    // A streaming call counts once, when its stream ends.
    const stream = await fetch(`${s.url}/sessions:watch`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ sessionIds: ["m1"] }),
    });
    await stream.text();
    await waitUntil(
      async () => (await metric(s.admin, series("WatchSessions", "OK"))) === 1,
      10_000,
      "the stream counted",
    );
    expect(await metric(s.admin, series("TouchAll", "OK"))).toBe(3);
    expect(await metric(s.admin, series("TouchAll", "INVALID_ARGUMENT"))).toBe(1);
    expect(
      await metric(
        s.admin,
        /^cairn_command_duration_seconds_count\{service="usersession.v1.SessionFanout",method="TouchAll"\}/,
      ),
    ).toBe(4);
  });

  it("streams sessions over server-sent events, gRPC and Connect", async () => {
    const s = await system();
    await login(s.url, "w1", "ann");
    await login(s.url, "w2", "bob");
    const sse = await fetch(`${s.url}/sessions:watch`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ sessionIds: ["w1", "w2"] }),
    });
    expect(sse.headers.get("content-type")).toMatch(/text\/event-stream/);
    const events = (await sse.text())
      .split("\n")
      .filter((l) => l.startsWith("data: "))
      .map((l) => (JSON.parse(l.slice(6)) as { sessionId: string }).sessionId);
    expect(events.sort()).toEqual(["w1", "w2"]);

    const Client = grpc.makeGenericClientConstructor(
      grpcServiceDefinition(SessionFanout),
      "SessionFanout",
    );
    const client = new Client(`127.0.0.1:${s.rt.port}`, grpc.credentials.createInsecure());
    const call = (
      client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<Session>>
    ).watchSessions!.call(client, create(WatchSessionsRequestSchema, { sessionIds: ["w1", "w2"] }));
    const viaGrpc: string[] = [];
    for await (const m of call as AsyncIterable<Session>) viaGrpc.push(m.sessionId);
    client.close();
    expect(viaGrpc.sort()).toEqual(["w1", "w2"]);

    const connect = createClient(
      SessionFanout,
      createConnectTransport({ baseUrl: s.url, httpVersion: "1.1" }),
    );
    const viaConnect: string[] = [];
    for await (const m of connect.watchSessions({ sessionIds: ["w2"] }))
      viaConnect.push(m.sessionId);
    expect(viaConnect).toEqual(["w2"]);
  });
});

describe("action transport", () => {
  it("falls back to one gRPC call per action when the SDK does not announce multiplexed actions", async () => {
    // A hand-written function that speaks the protocol without the
    // "multiplexed_actions" capability, as an older or third-party SDK would.
    const spec = buildSpec([sessionFanout], { serviceName: "legacy", serviceVersion: "1" });
    spec.serviceInfo!.capabilities = [];
    let unaryCalls = 0;
    const server = new grpc.Server();
    server.addService(grpcServiceDefinition(Discovery), {
      discover: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, spec),
      reportError: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, create(EmptySchema)),
    });
    server.addService(grpcServiceDefinition(Actions), {
      handleUnary: (
        call: grpc.ServerUnaryCall<ActionCommand, unknown>,
        cb: grpc.sendUnaryData<unknown>,
      ) => {
        unaryCalls++;
        const req = fromBinary(TouchAllRequestSchema, call.request.payload!.value);
        const result = create(TouchAllResultSchema, { missing: req.sessionIds });
        cb(
          null,
          create(ActionResponseSchema, {
            clientAction: {
              action: {
                case: "reply",
                value: {
                  payload: {
                    typeUrl: `type.googleapis.com/${TouchAllResultSchema.typeName}`,
                    value: toBinary(TouchAllResultSchema, result),
                  },
                },
              },
            },
          }),
        );
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => server.forceShutdown());
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const rt = await startRuntime({ functionPort: port, store: `${tmp.dir}/c.db` });
    procs.push(rt.proc);
    const res = await http("POST", `${rt.url}/sessions:touchAll`, { sessionIds: ["a", "b"] });
    expect(res).toMatchObject({ status: 200, body: { missing: ["a", "b"] } });
    expect(unaryCalls).toBe(1);
  });
});

describe("client-streaming and bidirectional actions", () => {
  it("serves client streams over gRPC and HTTP/JSON, and bidi streams over gRPC", async () => {
    const s = await system();
    await login(s.url, "c1", "ann");
    await login(s.url, "c2", "bob");
    const Client = grpc.makeGenericClientConstructor(
      grpcServiceDefinition(SessionFanout),
      "SessionFanout",
    );
    const client = new Client(`127.0.0.1:${s.rt.port}`, grpc.credentials.createInsecure());
    const methods = client as unknown as Record<string, (...a: unknown[]) => unknown>;
    const result = await new Promise<{ touched: Session[]; missing: string[] }>(
      (resolve, reject) => {
        const call = methods.touchStream!.call(
          client,
          (e: Error | null, v: { touched: Session[]; missing: string[] }) =>
            e ? reject(e) : resolve(v),
        ) as grpc.ClientWritableStream<unknown>;
        for (const id of ["c1", "ghost", "c2"])
          call.write(create(TouchRequestSchema, { sessionId: id }));
        call.end();
      },
    );
    expect(result.touched.map((t) => t.sessionId)).toEqual(["c1", "c2"]);
    expect(result.missing).toEqual(["ghost"]);

    const bidi = methods.touchEach!.call(client) as grpc.ClientDuplexStream<unknown, Session>;
    const answers: string[] = [];
    const done = (async () => {
      for await (const m of bidi as AsyncIterable<Session>) answers.push(m.sessionId);
    })();
    bidi.write(create(TouchRequestSchema, { sessionId: "c2" }));
    await waitUntil(
      () => answers.length === 1,
      10_000,
      "the first bidi answer before the stream ends",
    );
    bidi.write(create(TouchRequestSchema, { sessionId: "c1" }));
    bidi.end();
    await done;
    client.close();
    expect(answers).toEqual(["c2", "c1"]);

    const viaHttp = await http("POST", `${s.url}/usersession.v1.SessionFanout/TouchStream`, [
      { sessionId: "c2" },
      { sessionId: "nope" },
    ]);
    expect(viaHttp).toMatchObject({
      status: 200,
      body: { touched: [{ sessionId: "c2" }], missing: ["nope"] },
    });
  });
});

describe("effects and timers under faults", () => {
  it("fails a command whose effect targets an unknown component, and stores nothing", async () => {
    const s = await system(FAULTY);
    const res = await login(s.url, "e1", "bad-effect");
    expect(res.status).toBe(404);
    expect(JSON.stringify(res.body)).toMatch(/shoppingcart\.v1\.ShoppingCart.*not served/);
    expect((await http("GET", `${s.url}/sessions/e1`)).status).toBe(404);
  });

  it("refuses a call cycle at once instead of waiting for the deadline", async () => {
    const s = await system(FAULTY);
    await login(s.url, "k1", "ann");
    // k2 calling k1 while handling a command is fine...
    expect((await login(s.url, "k2", "call:k1")).status).toBe(200);
    // ...but k3 calling itself would wait behind its own command.
    const started = Date.now();
    const cycle = await login(s.url, "k3", "call:k3");
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(cycle.status).toBe(400);
    expect(cycle.body).toMatchObject({ status: "FAILED_PRECONDITION" });
    expect(JSON.stringify(cycle.body)).toMatch(
      /call cycle: usersession\.v1\.UserSession\/k3 → usersession\.v1\.UserSession\/k3/,
    );
    expect((await http("GET", `${s.url}/sessions/k3`)).status).toBe(404);
  });

  it("emits no effect for a failed command", async () => {
    const s = await system(FAULTY);
    await login(s.url, "n1", "ann");
    const failed = await login(s.url, "n2", "effect-then-fail:n1");
    expect(failed.status).toBe(400);
    expect((await http("GET", `${s.url}/sessions/n2`)).status).toBe(404);
    // The outbox is delivered in order: once a later effect is delivered, an
    // effect of the failed command would have been delivered before it.
    expect((await login(s.url, "n3", "effect-touch:n1")).status).toBe(200);
    const delivered = /^cairn_effect_deliveries_total\{outcome="delivered"\}/;
    await waitUntil(
      async () => (await metric(s.admin, delivered)) >= 1,
      15_000,
      "the later effect delivered",
    );
    expect(await metric(s.admin, delivered)).toBe(1);
  });

  it("retries a failing asynchronous effect and delivers it after a kill -9 of the runtime", async () => {
    const s = await system(FAULTY);
    expect((await login(s.url, "e2", "effect-touch:e3")).status).toBe(200);
    await waitUntil(
      async () => (await metric(s.admin, /^cairn_effect_deliveries_total\{outcome="retry"\}/)) >= 1,
      15_000,
      "a retried effect",
    );
    await s.rt.proc.kill9();
    const rt2 = await startRuntime({ functionPort: s.fn.port, store: s.store });
    procs.push(rt2.proc);
    const created = await login(rt2.url, "e3", "dan");
    const createdAt = Number((created.body as { lastSeenEpochMs: string }).lastSeenEpochMs);
    const admin2 = `http://127.0.0.1:${rt2.adminPort}`;
    await waitUntil(
      async () =>
        (await metric(admin2, /^cairn_effect_deliveries_total\{outcome="delivered"\}/)) >= 1,
      20_000,
      "the effect delivered after the restart",
    );
    const after = await http("GET", `${rt2.url}/sessions/e3`);
    expect(Number((after.body as { lastSeenEpochMs: string }).lastSeenEpochMs)).toBeGreaterThan(
      createdAt,
    );
  });

  it("refuses timers over the configured limits with RESOURCE_EXHAUSTED, storing nothing", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction(0, FAULTY);
    procs.push(fn.proc);
    const rt = await startRuntime({
      functionPort: fn.port,
      store: `${tmp.dir}/cairn.db`,
      args: ["--max-timers-per-owner", "3", "--max-timer-payload-bytes", "40"],
    });
    procs.push(rt.proc);
    expect((await login(rt.url, "l1", "many-timers:3")).status).toBe(200);
    const over = await login(rt.url, "l2", "many-timers:4");
    expect(over.status).toBe(429);
    expect(JSON.stringify(over.body)).toMatch(
      /RESOURCE_EXHAUSTED.*limit|limit.*RESOURCE_EXHAUSTED/,
    );
    expect((await http("GET", `${rt.url}/sessions/l2`)).status).toBe(404);
    const long = "x".repeat(60);
    const big = await login(rt.url, long, "many-timers:1");
    expect(big.status).toBe(429);
    expect(JSON.stringify(big.body)).toMatch(/max-timer-payload-bytes/);
    expect((await http("GET", `${rt.url}/sessions/${long}`)).status).toBe(404);
  });

  it("parks a timer whose target no longer exists after a redeploy", async () => {
    const s = await system(FAULTY);
    expect((await login(s.url, "p1", "timer-fanout")).status).toBe(200);
    await s.fn.proc.stop();
    const redeployed = await startFunction(s.fn.port, FAULTY, { FIXTURE_ONLY_SESSIONS: "1" });
    procs.push(redeployed.proc);
    await waitUntil(
      async () => (await metric(s.admin, /^cairn_timer_firings_total\{outcome="parked"\}/)) >= 1,
      20_000,
      "a parked timer",
    );
    expect(s.rt.proc.lines.some((l) => l.includes("timer parked"))).toBe(true);
    // Parked means parked: it does not fire again.
    const parked = await metric(s.admin, /^cairn_timer_firings_total\{outcome="parked"\}/);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await metric(s.admin, /^cairn_timer_firings_total\{outcome="parked"\}/)).toBe(parked);
  });
});
