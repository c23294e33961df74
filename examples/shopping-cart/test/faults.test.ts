/**
 * Faults against real processes: handlers that throw or hang, a full
 * mailbox, the user function killed mid-load, the runtime killed with
 * SIGKILL mid-load. Each asserts what the client sees and what the journal
 * holds afterwards.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { http, startFunction, startRuntime, tempDir, waitUntil } from "./harness.js";
import type { Proc } from "./harness.js";

const FAULTY = join(import.meta.dirname, "fixtures/faulty-cart.ts");
const procs: Proc[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) c();
});

async function system(entry?: string, args: string[] = []) {
  const tmp = tempDir();
  cleanups.push(tmp.cleanup);
  const f = await startFunction(0, entry);
  procs.push(f.proc);
  const store = `${tmp.dir}/cairn.db`;
  const r = await startRuntime({ functionPort: f.port, store, args });
  procs.push(r.proc);
  return { fn: f, rt: r, store, url: r.url, admin: `http://127.0.0.1:${r.adminPort}` };
}

async function journal(
  admin: string,
  cartId: string,
): Promise<Array<{ sequence: number; payload: { productId?: string; type?: string } }>> {
  const res = await fetch(`${admin}/v1/entities/shoppingcart.v1.ShoppingCart/${cartId}`);
  if (res.status === 404) return [];
  return (
    (await res.json()) as { events: Array<{ sequence: number; payload: { productId?: string } }> }
  ).events;
}

const add = (url: string, cart: string, productId: string, quantity = 1) =>
  http("POST", `${url}/carts/${cart}/items`, { productId, name: productId, quantity });

describe("a handler that fails", () => {
  it("answers INTERNAL with a correlation id for an untyped error, persists nothing, keeps the old state", async () => {
    const { url, admin } = await system(FAULTY);
    expect((await add(url, "f1", "apple")).status).toBe(200);
    const res = await add(url, "f1", "boom");
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ status: "INTERNAL" });
    expect(JSON.stringify(res.body)).toMatch(/correlation id/);
    expect(JSON.stringify(res.body)).not.toMatch(/kaboom/);
    const ghost = await add(url, "f1", "emit-then-boom");
    expect(ghost.status).toBe(500);
    expect((await http("GET", `${url}/carts/f1`)).body).toEqual({
      items: [{ productId: "apple", name: "apple", quantity: 1 }],
      checkedOut: false,
    });
    expect((await journal(admin, "f1")).map((e) => e.payload.productId)).toEqual(["apple"]);
  });

  it("times out a handler that never answers, restarts the entity and persists nothing", async () => {
    const { url, admin } = await system(FAULTY, ["--command-timeout-ms", "1500"]);
    expect((await add(url, "f2", "apple")).status).toBe(200);
    const started = Date.now();
    const res = await add(url, "f2", "hang");
    expect(res.status).toBe(504);
    expect(res.body).toMatchObject({ status: "DEADLINE_EXCEEDED" });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await add(url, "f2", "pear")).status).toBe(200);
    expect((await journal(admin, "f2")).map((e) => e.payload.productId)).toEqual(["apple", "pear"]);
  });

  it("runs the commands queued behind a hanging one after the restart, and mixes failures into a pipeline safely", async () => {
    const { url, admin } = await system(FAULTY, ["--command-timeout-ms", "3000"]);
    const hang = add(url, "f4", "hang");
    await new Promise((r) => setTimeout(r, 1_500));
    const behind = Array.from({ length: 5 }, (_, i) => add(url, "f4", `b${i}`));
    expect((await hang).status).toBe(504);
    expect((await Promise.all(behind)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    const products = Array.from({ length: 30 }, (_, i) =>
      i % 10 === 3 ? "boom" : i % 10 === 7 ? "emit-then-boom" : `m${i}`,
    );
    const results = await Promise.all(products.map((p) => add(url, "f4", p)));
    products.forEach((p, i) => expect(results[i]!.status).toBe(p.startsWith("m") ? 200 : 500));
    const expected = ["b0", "b1", "b2", "b3", "b4", ...products.filter((p) => p.startsWith("m"))];
    // Concurrent HTTP requests may arrive in any order: compare as sets, and each exactly once.
    expect((await journal(admin, "f4")).map((e) => e.payload.productId).sort()).toEqual(
      expected.sort(),
    );
  });

  it("rejects commands beyond the mailbox capacity with RESOURCE_EXHAUSTED", async () => {
    const { url } = await system(FAULTY, [
      "--command-timeout-ms",
      "2000",
      "--mailbox-capacity",
      "3",
    ]);
    expect((await add(url, "f3", "apple")).status).toBe(200);
    const hang = add(url, "f3", "hang");
    await new Promise((r) => setTimeout(r, 200)); // let the hanging command reach the function first
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => add(url, "f3", `p${i}`)));
    const rejected = burst.filter((r) => r.status === 429);
    expect(rejected.length).toBeGreaterThanOrEqual(6);
    expect(JSON.stringify(rejected[0]!.body)).toMatch(
      /RESOURCE_EXHAUSTED.*mailbox|mailbox.*RESOURCE_EXHAUSTED/s,
    );
    expect((await hang).status).toBe(504);
  });
});

/** Runs `workers` loops of unique AddItems over `carts` carts until `stop()`; records outcomes. */
function load(url: () => string, carts: number, workers: number) {
  const acked = new Map<string, Set<string>>();
  const unknown = new Map<string, Set<string>>();
  const failed = new Map<string, Set<string>>();
  let running = true;
  let n = 0;
  const note = (m: Map<string, Set<string>>, cart: string, p: string) =>
    m.set(cart, (m.get(cart) ?? new Set()).add(p));
  const loops = Array.from({ length: workers }, async () => {
    const deadline = Date.now() + 60_000;
    while (running && Date.now() < deadline) {
      const i = n++;
      const cart = `k${i % carts}`;
      const product = `p${i}`;
      try {
        const res = await add(url(), cart, product);
        // A passed deadline (504) leaves the outcome unknown: the command may complete.
        note(res.status === 200 ? acked : res.status === 504 ? unknown : failed, cart, product);
        if (res.status !== 200) await new Promise((r) => setTimeout(r, 20));
      } catch {
        note(unknown, cart, product); // connection lost: outcome unknown
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  });
  return {
    acked,
    unknown,
    failed,
    count: () => [...acked.values()].reduce((a, s) => a + s.size, 0),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe("process failures under load", () => {
  it("survives the user function being killed: in-flight fail UNAVAILABLE, acknowledged events are all kept", async () => {
    const s = await system();
    const l = load(() => s.url, 10, 8);
    await waitUntil(() => l.count() >= 100, 20_000, "100 acknowledged adds");
    await s.fn.proc.kill9();
    await waitUntil(
      () => [...l.failed.values()].some((x) => x.size > 0),
      10_000,
      "a failed call while the function is down",
    );
    const again = await startFunction(s.fn.port);
    procs.push(again.proc);
    const before = l.count();
    await waitUntil(
      () => l.count() >= before + 100,
      30_000,
      "100 more acknowledged adds after the function came back",
    );
    await l.stop();
    for (let c = 0; c < 10; c++) {
      const cart = `k${c}`;
      const products = (await journal(s.admin, cart)).map((e) => e.payload.productId!);
      expect(new Set(products).size).toBe(products.length);
      // Every acknowledged add is there; a refused one (503) never is; one whose
      // outcome the client could not learn (504, connection lost) may be.
      const acked = l.acked.get(cart) ?? new Set<string>();
      const unknown = l.unknown.get(cart) ?? new Set<string>();
      const failed = l.failed.get(cart) ?? new Set<string>();
      expect([...acked].filter((p) => !products.includes(p))).toEqual([]);
      expect(products.filter((p) => failed.has(p))).toEqual([]);
      expect(products.filter((p) => !acked.has(p) && !unknown.has(p))).toEqual([]);
    }
  });

  it("survives kill -9 of the runtime: acknowledged commands are in the journal exactly once, failed ones never", async () => {
    const s = await system();
    let url = s.url;
    const l = load(() => url, 10, 8);
    await waitUntil(() => l.count() >= 200, 20_000, "200 acknowledged adds");
    await s.rt.proc.kill9();
    const rt2 = await startRuntime({ functionPort: s.fn.port, store: s.store });
    procs.push(rt2.proc);
    url = rt2.url;
    const before = l.count();
    await waitUntil(
      () => l.count() >= before + 100,
      30_000,
      "100 more acknowledged adds after the restart",
    );
    await l.stop();
    const admin = `http://127.0.0.1:${rt2.adminPort}`;
    for (let c = 0; c < 10; c++) {
      const cart = `k${c}`;
      const products = (await journal(admin, cart)).map((e) => e.payload.productId!);
      const inJournal = new Set(products);
      expect(inJournal.size).toBe(products.length); // exactly once
      for (const p of l.acked.get(cart) ?? []) expect(inJournal.has(p)).toBe(true);
      for (const p of inJournal)
        expect(l.acked.get(cart)?.has(p) || l.unknown.get(cart)?.has(p)).toBe(true);
      for (const p of l.failed.get(cart) ?? []) expect(inJournal.has(p)).toBe(false);
      const state = (await http("GET", `${url}/carts/${cart}`)).body as {
        items: Array<{ productId: string; quantity: number }>;
      };
      expect(new Set(state.items.map((i) => i.productId))).toEqual(inJournal);
      expect(state.items.every((i) => i.quantity === 1)).toBe(true);
    }
  });
});
