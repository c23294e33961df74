/**
 * Node limits against real processes (issue 7, finding 7): one request that
 * fans out to many entities at once is refused past --max-fan-out, with
 * RESOURCE_EXHAUSTED naming the option, and only that request fails.
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

describe("the fan-out limit", () => {
  it("refuses a TouchAll that calls more sessions at once than --max-fan-out; others are served", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction(0, SAMPLE);
    procs.push(fn.proc);
    const rt = await startRuntime({
      functionPort: fn.port,
      store: `${tmp.dir}/cairn.db`,
      args: ["--max-fan-out", "10"],
    });
    procs.push(rt.proc);
    const ids = Array.from({ length: 40 }, (_, i) => `s${i}`);
    for (const id of ids.slice(0, 5)) {
      expect((await http("POST", `${rt.url}/sessions/${id}/login`, { userId: id })).status).toBe(
        200,
      );
    }
    const wide = await http("POST", `${rt.url}/sessions:touchAll`, { sessionIds: ids });
    expect(wide.status).toBe(429);
    expect(JSON.stringify(wide.body)).toMatch(/RESOURCE_EXHAUSTED/);
    expect(JSON.stringify(wide.body)).toMatch(/--max-fan-out is 10/);
    const narrow = await http("POST", `${rt.url}/sessions:touchAll`, {
      sessionIds: ids.slice(0, 5),
    });
    expect(narrow.status).toBe(200);
    expect((narrow.body as { touched: unknown[] }).touched).toHaveLength(5);
    const metrics = await (await fetch(`http://127.0.0.1:${rt.adminPort}/metrics`)).text();
    expect(metrics).toMatch(/cairn_limit_rejections_total\{limit="max-fan-out"\} [1-9]/);
  });

  it("refuses an over-long entity id reached through ctx.call, and an over-limit NDJSON line with 413 naming the limit", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction(0, SAMPLE);
    procs.push(fn.proc);
    const rt = await startRuntime({
      functionPort: fn.port,
      store: `${tmp.dir}/cairn.db`,
      args: ["--max-entity-id-bytes", "32", "--max-request-bytes", "2000"],
    });
    procs.push(rt.proc);
    const long = "s".repeat(33);
    const touched = await http("POST", `${rt.url}/sessions:touchAll`, { sessionIds: [long] });
    expect(touched.status).toBe(400);
    expect((touched.body as { message: string }).message).toContain(
      "entity id in request usersession.v1.UserSession/Touch is 33 bytes, the limit is 32 bytes (maxEntityIdBytes)",
    );
    const line = JSON.stringify({ sessionId: "s1", pad: "x".repeat(2100) });
    const res = await fetch(`${rt.url}/usersession.v1.SessionFanout/TouchStream`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: `{"sessionId":"s1"}\n${line}\n`,
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({
      code: 8,
      status: "RESOURCE_EXHAUSTED",
      message: `NDJSON line 2 too large: ${line.length} bytes, the limit is 2000 bytes (maxRequestBytes)`,
    });
    expect((await http("GET", `${rt.url}/sessions/s1`)).status).toBeLessThan(500);
  });
});
