/**
 * Idempotency keys on an action against real processes: a repeated keyed
 * call of SessionFanout/TouchAll (which touches sessions with ctx.call) is
 * answered from its stored reply; the sessions are touched once.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { http, startFunction, startRuntime, tempDir } from "../../shopping-cart/test/harness.js";
import type { Proc } from "../../shopping-cart/test/harness.js";

const SAMPLE = join(import.meta.dirname, "../src/main.ts");
const procs: Proc[] = [];
const cleanups: Array<() => void> = [];

afterEach(async () => {
  for (const p of procs.splice(0).reverse()) await p.kill9();
  for (const c of cleanups.splice(0)) c();
});

async function version(admin: string, id: string): Promise<number> {
  const res = await fetch(`${admin}/v1/entities/usersession.v1.UserSession/${id}`);
  return ((await res.json()) as { version: number }).version;
}

describe("idempotency keys on an action", () => {
  it("answers a repeated keyed TouchAll from its stored reply; the sessions are touched once", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction(0, SAMPLE);
    procs.push(fn.proc);
    const rt = await startRuntime({ functionPort: fn.port, store: `${tmp.dir}/cairn.db` });
    procs.push(rt.proc);
    const admin = `http://127.0.0.1:${rt.adminPort}`;
    for (const id of ["i1", "i2"]) {
      const login = await http("POST", `${rt.url}/sessions/${id}/login`, { userId: "ann" });
      expect(login.status).toBe(200);
    }
    const touchAll = () =>
      http(
        "POST",
        `${rt.url}/sessions:touchAll`,
        { sessionIds: ["i1", "i2", "nobody"] },
        { "idempotency-key": "fan-1" },
      );
    const first = await touchAll();
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ missing: ["nobody"] });
    const touched = [await version(admin, "i1"), await version(admin, "i2")];
    expect(touched).toEqual([2, 2]);
    const again = await touchAll();
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect([await version(admin, "i1"), await version(admin, "i2")]).toEqual(touched);
    // A different body under the key is refused.
    const other = await http(
      "POST",
      `${rt.url}/sessions:touchAll`,
      { sessionIds: ["i1"] },
      { "idempotency-key": "fan-1" },
    );
    expect(other.status).toBe(400);
    expect(JSON.stringify(other.body)).toMatch(/idempotency-key 'fan-1'.*SessionFanout/);
  });
});
