/**
 * Short client deadlines against real processes (issue 7, finding 6): a
 * deadline that passes while the function has the command answers
 * DEADLINE_EXCEEDED to that client only. Before, 200 calls with a 1 ms
 * deadline caused about 100 reloads and replays of the entity.
 */
import { afterEach, describe, expect, it } from "vitest";
import { http, startFunction, startRuntime, tempDir } from "./harness.js";
import type { Proc } from "./harness.js";

const procs: Proc[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) c();
});

async function metricSum(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

describe("short client deadlines", () => {
  it("never restart the entity; every acknowledged command is in the journal once", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction();
    procs.push(fn.proc);
    const rt = await startRuntime({ functionPort: fn.port, store: `${tmp.dir}/cairn.db` });
    procs.push(rt.proc);
    const admin = `http://127.0.0.1:${rt.adminPort}`;
    expect((await http("GET", `${rt.url}/carts/d1`)).status).toBe(200); // active, warm
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        http(
          "POST",
          `${rt.url}/carts/d1/items`,
          { productId: `p${i}`, name: `p${i}`, quantity: 1 },
          { "connect-timeout-ms": "1" },
        ).then((r) => [i, r.status] as const),
      ),
    );
    expect(statuses.every(([, s]) => s === 200 || s === 504)).toBe(true);
    expect(await metricSum(admin, "cairn_entity_restarts_total")).toBe(0);
    expect(await metricSum(admin, "cairn_entity_activations_total")).toBe(1);
    // The entity keeps serving, and kept whatever it completed exactly once.
    const cart = (await http("GET", `${rt.url}/carts/d1`)).body as {
      items: Array<{ productId: string; quantity: number }>;
    };
    const kept = new Set(cart.items.map((i) => i.productId));
    for (const [i, s] of statuses) if (s === 200) expect(kept.has(`p${i}`)).toBe(true);
    expect(cart.items.every((i) => i.quantity === 1)).toBe(true);
  });

  it("a deadline too short for an idle entity says what the command waited for, and the deadline (finding 8)", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction();
    procs.push(fn.proc);
    const rt = await startRuntime({ functionPort: fn.port, store: `${tmp.dir}/cairn.db` });
    procs.push(rt.proc);
    // Each cart is new: the command waits for its activation.
    for (const header of [{ "grpc-timeout": "1n" }, { "connect-timeout-ms": "0" }]) {
      const late = await http(
        "GET",
        `${rt.url}/carts/fresh-${Object.keys(header)[0]}`,
        undefined,
        header,
      );
      expect(late.status).toBe(504);
      const message = (late.body as { message: string }).message;
      expect(message).not.toMatch(/busy|earlier commands/);
      expect(message).toMatch(/deadline (of|\().*ms.*GetCart/);
    }
  });
});
