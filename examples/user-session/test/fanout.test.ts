import { describe, expect, it } from "vitest";
import { CairnError, Code } from "@cairn/sdk";
import { createActionTestKit } from "@cairn/sdk/testkit";
import type { CallStubs } from "@cairn/sdk/testkit";
import { sessionFanout } from "../src/fanout.js";

const live = new Set(["a", "c"]);
const session = (sessionId: string) => ({ sessionId, userId: `u-${sessionId}`, loggedIn: true });
const stubs: CallStubs = {
  "usersession.v1.UserSession/Touch": (req: { sessionId: string }) => {
    if (!live.has(req.sessionId))
      throw new CairnError(Code.NotFound, `no session '${req.sessionId}'`);
    return { ...session(req.sessionId), lastSeenEpochMs: 5n };
  },
  "usersession.v1.UserSession/Get": (req: { sessionId: string }) => {
    if (!live.has(req.sessionId))
      throw new CairnError(Code.NotFound, `no session '${req.sessionId}'`);
    return session(req.sessionId);
  },
};

describe("SessionFanout", () => {
  it("touchAll touches every session and lists the missing ones", async () => {
    const kit = createActionTestKit(sessionFanout, { calls: stubs });
    const r = await kit.call(
      "touchAll",
      { sessionIds: ["a", "b", "c"] },
      { metadata: { traceparent: "00-abc-def-01" } },
    );
    expect(r.error).toBeUndefined();
    expect(r.reply?.touched.map((s) => [s.sessionId, s.lastSeenEpochMs])).toEqual([
      ["a", 5n],
      ["c", 5n],
    ]);
    expect(r.reply?.missing).toEqual(["b"]);
    expect(kit.calls.map((c) => c.path)).toEqual([
      "usersession.v1.UserSession/Touch",
      "usersession.v1.UserSession/Touch",
      "usersession.v1.UserSession/Touch",
    ]);
    // The command's trace context follows the calls it makes.
    expect(kit.calls[0]?.metadata.get("traceparent")).toBe("00-abc-def-01");
  });

  it("touchAll fails when a session call fails for another reason", async () => {
    const kit = createActionTestKit(sessionFanout, {
      calls: {
        "usersession.v1.UserSession/Touch": () => {
          throw new CairnError(Code.Unavailable, "owner moved");
        },
      },
    });
    const r = await kit.call("touchAll", { sessionIds: ["a"] });
    expect(r.error?.code).toBe(Code.Unavailable);
    expect(r.error?.message).toBe("owner moved");
  });

  it("refuses an empty session id", async () => {
    const kit = createActionTestKit(sessionFanout, { calls: stubs });
    const r = await kit.call("touchAll", { sessionIds: ["a", ""] });
    expect(r.error?.code).toBe(Code.InvalidArgument);
    expect(kit.calls).toEqual([]);
  });

  it("watchSessions streams the sessions that exist, in order", async () => {
    const kit = createActionTestKit(sessionFanout, { calls: stubs });
    const r = await kit.call("watchSessions", { sessionIds: ["c", "b", "a"] });
    expect(r.error).toBeUndefined();
    expect(r.replies.map((s) => s.sessionId)).toEqual(["c", "a"]);
  });

  it("an unstubbed call fails clearly", async () => {
    const kit = createActionTestKit(sessionFanout);
    const r = await kit.call("watchSessions", { sessionIds: ["a"] });
    expect(r.error?.code).toBe(Code.Unimplemented);
    expect(r.error?.message).toMatch(/usersession\.v1\.UserSession\/Get has no stub/);
  });
  it("touchStream touches each streamed session and lists the missing ones", async () => {
    const kit = createActionTestKit(sessionFanout, { calls: stubs });
    const r = await kit.call("touchStream", [{ sessionId: "a" }, { sessionId: "b" }]);
    expect(r.error).toBeUndefined();
    expect(r.reply?.touched.map((s) => s.sessionId)).toEqual(["a"]);
    expect(r.reply?.missing).toEqual(["b"]);
  });

  it("touchEach answers each ping of a live session", async () => {
    const kit = createActionTestKit(sessionFanout, { calls: stubs });
    const r = await kit.call("touchEach", [
      { sessionId: "c" },
      { sessionId: "zzz" },
      { sessionId: "a" },
    ]);
    expect(r.error).toBeUndefined();
    expect(r.replies.map((s) => s.sessionId)).toEqual(["c", "a"]);
  });
});
