/**
 * Forwards and effects of both entity kinds against real processes (issue
 * 8): forwards with and without a state change, synchronous effects, a
 * synchronous effect that fails after the commit (the answer says
 * `committed`), asynchronous effects delivered in the order recorded, and a
 * keyed command's synchronous effect not repeated by a replay.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  http,
  startFunction,
  startRuntime,
  tempDir,
  waitUntil,
} from "../../shopping-cart/test/harness.js";
import type { Proc } from "../../shopping-cart/test/harness.js";

const FIXTURE = join(import.meta.dirname, "fixtures/effects.ts");
let procs: Proc[] = [];
let cleanup: () => void = () => {};
let url = "";
let admin = "";

beforeAll(async () => {
  const tmp = tempDir();
  cleanup = tmp.cleanup;
  const fn = await startFunction(0, FIXTURE);
  const rt = await startRuntime({ functionPort: fn.port, store: `${tmp.dir}/cairn.db` });
  procs = [fn.proc, rt.proc];
  url = rt.url;
  admin = `http://127.0.0.1:${rt.adminPort}`;
});

afterAll(async () => {
  for (const p of procs.reverse()) await p.kill9();
  cleanup();
});

async function cartEvents(id: string): Promise<string[]> {
  const res = await fetch(`${admin}/v1/entities/shoppingcart.v1.ShoppingCart/${id}`);
  if (res.status === 404) return [];
  const body = (await res.json()) as {
    events: Array<{ payload: { type?: string; productId?: string } }>;
  };
  return body.events.map((e) => e.payload.productId ?? e.payload.type ?? "?");
}

async function session(
  id: string,
): Promise<{ version: number; state?: { userId: string; touches: number } }> {
  const res = await fetch(`${admin}/v1/entities/usersession.v1.UserSession/${id}`);
  return (await res.json()) as { version: number; state?: { userId: string; touches: number } };
}

const add = (cart: string, productId: string, headers: Record<string, string> = {}) =>
  http("POST", `${url}/carts/${cart}/items`, { productId, name: productId, quantity: 1 }, headers);
const login = (id: string, userId: string, headers: Record<string, string> = {}) =>
  http("POST", `${url}/sessions/${id}/login`, { userId }, headers);

describe("forwards and effects of an event-sourced entity", () => {
  it("forwards after its state change, and without one", async () => {
    const res = await add("es-f1", "fwd:es-f2");
    expect(res.status).toBe(200);
    expect(await cartEvents("es-f1")).toEqual(["fwd:es-f2"]);
    expect(await cartEvents("es-f2")).toEqual(["CheckedOut"]);
    expect((await add("es-f3", "fwd-only:es-f4")).status).toBe(200);
    expect(await cartEvents("es-f3")).toEqual([]);
    expect(await cartEvents("es-f4")).toEqual(["CheckedOut"]);
    // The forward target's failure is the answer.
    const refused = await add("es-f5", "fwd:es-f2");
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ status: "FAILED_PRECONDITION" });
  });

  it("runs a synchronous effect before answering", async () => {
    expect((await add("es-s1", "sync:es-s2")).status).toBe(200);
    expect(await cartEvents("es-s1")).toEqual(["sync:es-s2"]);
    expect(await cartEvents("es-s2")).toEqual(["from-effect"]);
  });

  it("says committed when a synchronous effect fails after the commit", async () => {
    const res = await add("es-x1", "sync-fail:es-x2");
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ status: "NOT_FOUND", committed: true });
    expect(JSON.stringify(res.body)).toMatch(
      /was committed, but its synchronous effect shoppingcart\.v1\.ShoppingCart\/RemoveItem failed/,
    );
    expect(res.headers.get("cairn-committed")).toBe("true");
    expect(await cartEvents("es-x1")).toEqual(["sync-fail:es-x2"]);
  });
});

describe("forwards and effects of a value entity", () => {
  it("forwards after its state change, and without one", async () => {
    expect((await login("v-f2", "target")).status).toBe(200);
    const res = await login("v-f1", "fwd:v-f2");
    expect(res).toMatchObject({ status: 200, body: { sessionId: "v-f2", userId: "target" } });
    expect(await session("v-f1")).toMatchObject({ version: 1, state: { userId: "fwd:v-f2" } });
    const only = await login("v-f3", "fwd-only:v-f2");
    expect(only).toMatchObject({ status: 200, body: { sessionId: "v-f2" } });
    expect(await session("v-f3")).toMatchObject({ version: 0 });
  });

  it("runs a synchronous effect before answering, and says committed when it fails", async () => {
    expect((await login("v-s2", "target")).status).toBe(200);
    expect((await login("v-s1", "sync:v-s2")).status).toBe(200);
    expect(await session("v-s2")).toMatchObject({ version: 2, state: { touches: 1 } });
    const res = await login("v-x1", "sync-fail:v-nobody");
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ status: "NOT_FOUND", committed: true });
    expect(await session("v-x1")).toMatchObject({ version: 1 });
  });

  it("delivers a command's asynchronous effects in the order it recorded them", async () => {
    expect((await login("v-a1", "async:v-a2:cart-a")).status).toBe(200);
    // The first effect fails (no session v-a2) and is retried; the second waits for it.
    const retries = async () => {
      const text = await (await fetch(`${admin}/metrics`)).text();
      const line = text.split("\n").find((l) => /^cairn_effect_deliveries_total\{.*retry/.test(l));
      return Number(line?.split(" ").pop() ?? 0);
    };
    await waitUntil(async () => (await retries()) >= 2, 20_000, "two retries of the first effect");
    expect(await cartEvents("cart-a")).toEqual([]);
    expect((await login("v-a2", "late")).status).toBe(200);
    await waitUntil(
      async () => (await cartEvents("cart-a")).length === 1,
      20_000,
      "the second effect",
    );
    expect(await cartEvents("cart-a")).toEqual(["after-touch"]);
    expect(await session("v-a2")).toMatchObject({ state: { touches: 1 } });
  });

  it("does not repeat a keyed command's synchronous effect when it replays the command", async () => {
    expect((await login("v-k2", "target")).status).toBe(200);
    const keyed = { "idempotency-key": "sync-once" };
    expect((await login("v-k1", "sync:v-k2", keyed)).status).toBe(200);
    const replay = await login("v-k1", "sync:v-k2", keyed);
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(await session("v-k1")).toMatchObject({ version: 1 });
    expect(await session("v-k2")).toMatchObject({ version: 2, state: { touches: 1 } });
  });
});
