/**
 * Fail fast (issue 8): the user function killed under load. Commands sent
 * while the runtime knows it is gone answer 503 UNAVAILABLE with
 * Retry-After within the grace period, none waits out its deadline, and
 * every acknowledged write is in the journal once the function is back,
 * checked against the history the clients recorded.
 */
import { afterEach, describe, expect, it } from "vitest";
import { http, startFunction, startRuntime, tempDir, waitUntil } from "./harness.js";
import type { Proc } from "./harness.js";

const procs: Proc[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) c();
});

interface Outcome {
  readonly cart: string;
  readonly product: string;
  readonly status: number;
  readonly ms: number;
  readonly sentAt: number;
  readonly retryAfter: string | null;
}

describe("a user function killed under load", () => {
  it("fails new commands with 503 within the grace period, never at the deadline, and loses no acknowledged write", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction();
    procs.push(fn.proc);
    const grace = 1_000;
    const rt = await startRuntime({
      functionPort: fn.port,
      store: `${tmp.dir}/cairn.db`,
      args: ["--unavailable-grace-ms", String(grace), "--command-timeout-ms", "10000"],
    });
    procs.push(rt.proc);
    const history: Outcome[] = [];
    let stop = false;
    let killedAt = Infinity;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const cart = `ff-${c}-${i % 3}`;
        const product = `p${c}-${i}`;
        const sentAt = Date.now();
        const res = await http("POST", `${rt.url}/carts/${cart}/items`, {
          productId: product,
          name: product,
          quantity: 1,
        }).catch(() => ({ status: 0, headers: new Headers() }));
        history.push({
          cart,
          product,
          status: res.status,
          ms: Date.now() - sentAt,
          sentAt,
          retryAfter: res.headers.get("retry-after"),
        });
      }
    };
    const clients = Array.from({ length: 6 }, (_, c) => client(c));
    await waitUntil(() => history.filter((h) => h.status === 200).length >= 50, 30_000, "load");
    await fn.proc.kill9();
    killedAt = Date.now();
    await waitUntil(() => Date.now() - killedAt > 3 * grace, 30_000, "the outage");
    stop = true;
    await Promise.all(clients);

    const after = history.filter((h) => h.sentAt >= killedAt + 200);
    expect(after.length).toBeGreaterThan(0);
    // Known down: fast 503s with Retry-After, no deadline, nothing acknowledged.
    expect(new Set(after.map((h) => h.status))).toEqual(new Set([503]));
    expect(after.every((h) => h.retryAfter !== null)).toBe(true);
    expect(Math.max(...after.map((h) => h.ms))).toBeLessThan(grace + 2_000);
    expect(history.filter((h) => h.status === 504)).toEqual([]);

    // Back up: every acknowledged write is in its cart's journal.
    const again = await startFunction(fn.port);
    procs.push(again.proc);
    await waitUntil(
      async () => (await http("GET", `${rt.url}/carts/ff-0-0`)).status === 200,
      30_000,
      "the function back",
    );
    const admin = `http://127.0.0.1:${rt.adminPort}`;
    const carts = [...new Set(history.map((h) => h.cart))];
    for (const cart of carts) {
      const res = await fetch(`${admin}/v1/entities/shoppingcart.v1.ShoppingCart/${cart}`);
      const events =
        res.status === 404
          ? []
          : ((await res.json()) as { events: Array<{ payload: { productId: string } }> }).events;
      const stored = events.map((e) => e.payload.productId);
      const acked = history
        .filter((h) => h.cart === cart && h.status === 200)
        .map((h) => h.product);
      for (const p of acked) expect(stored).toContain(p);
      // Nothing twice.
      expect(new Set(stored).size).toBe(stored.length);
    }
  }, 120_000);
});
