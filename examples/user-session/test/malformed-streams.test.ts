/**
 * A malformed message in the middle of a client-streaming or bidirectional
 * call over HTTP/1.1 fails that call with INVALID_ARGUMENT, and nothing else:
 * the runtime keeps serving, and no promise rejection went unhandled (the
 * node survives those too, but counts each one as a bug).
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

/** A Connect streaming envelope: flags, big-endian length, payload. */
function envelope(payload: string, flags = 0): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

const METHODS = ["TouchStream", "TouchEach"] as const;

const BAD_BODIES = [
  {
    name: "NDJSON with a malformed line",
    type: "application/x-ndjson",
    body: () => '{"sessionId":"s1"}\n{oops\n',
  },
  {
    name: "NDJSON with a message of the wrong shape",
    type: "application/x-ndjson",
    body: () => '{"sessionId":"s1"}\n{"sessionId": 42, "nope": true}\n',
  },
  {
    name: "Connect envelopes with malformed JSON",
    type: "application/connect+json",
    body: () => Buffer.concat([envelope('{"sessionId":"s1"}'), envelope("{oops")]),
  },
  {
    name: "Connect envelopes with a truncated frame",
    type: "application/connect+json",
    body: () => Buffer.concat([envelope('{"sessionId":"s1"}'), envelope("{}").subarray(0, 3)]),
  },
  {
    name: "binary Connect envelopes with bytes that are not protobuf",
    type: "application/connect+proto",
    body: () =>
      Buffer.concat([envelope("\n\x02s1"), envelope("\xff\xff\xff\xff\xff\xff\xff\xff\xff")]),
  },
];

describe("malformed messages in request streams over HTTP/1.1", () => {
  it("fail only their own call; the runtime keeps serving and leaves no rejection unhandled", async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    const fn = await startFunction(0, SAMPLE);
    procs.push(fn.proc);
    const rt = await startRuntime({ functionPort: fn.port, store: join(tmp.dir, "cairn.db") });
    procs.push(rt.proc);
    const admin = `http://127.0.0.1:${rt.adminPort}`;

    for (const method of METHODS) {
      for (const bad of BAD_BODIES) {
        const res = await fetch(`${rt.url}/usersession.v1.SessionFanout/${method}`, {
          method: "POST",
          headers: { "content-type": bad.type },
          body: bad.body(),
        });
        const text = await res.text();
        const what = `${method}, ${bad.name}: ${res.status} ${text}`;
        // The Connect protocol answers streams with 200 and the error in the end-of-stream frame.
        if (bad.type.startsWith("application/connect")) {
          expect([200, 400], what).toContain(res.status);
          expect(text, what).toMatch(/invalid_argument/);
        } else {
          expect(res.status, what).toBe(400);
          expect(text, what).toMatch(/INVALID_ARGUMENT|invalid_argument/);
        }
        // Still serving, after every single one.
        expect(rt.proc.child.exitCode, `runtime exited after ${what}`).toBeNull();
      }
    }
    const login = await http("POST", `${rt.url}/sessions/after/login`, { userId: "ann" });
    expect(login.status).toBe(200);

    const metrics = await (await fetch(`${admin}/metrics`)).text();
    const unhandled = metrics
      .split("\n")
      .find((l) => l.startsWith("cairn_unhandled_rejections_total"));
    expect(unhandled, "the metric exists").toBeDefined();
    expect(Number(unhandled!.split(" ").pop())).toBe(0);
  });
});
