import { describe, expect, it } from "vitest";
import { Code } from "@cairn/sdk";
import { createValueEntityTestKit } from "@cairn/sdk/testkit";
import { UserSession } from "../src/gen/usersession/v1/user_session_pb.js";
import { DEFAULT_TTL_SECONDS, userSessionEntity } from "../src/session.js";

/** A session entity on a clock the test moves. */
function setup(sessionId = "s1") {
  const clock = { now: 1_000_000 };
  const kit = createValueEntityTestKit(userSessionEntity({ now: () => clock.now }), {
    entityId: sessionId,
  });
  return { kit, clock };
}

describe("UserSession", () => {
  it("login stores the session and schedules its expiry at last seen + ttl", async () => {
    const { kit } = setup();
    const r = await kit.call("login", { sessionId: "s1", userId: "ada", ttlSeconds: 60 });
    expect(r.error).toBeUndefined();
    expect(r.reply).toMatchObject({
      sessionId: "s1",
      userId: "ada",
      loggedIn: true,
      lastSeenEpochMs: 1_000_000n,
      expiresEpochMs: 1_060_000n,
    });
    expect(r.updated).toBe(true);
    expect(r.timers).toEqual([
      expect.objectContaining({
        kind: "schedule",
        name: "expire",
        dueEpochMs: 1_060_000,
        method: UserSession.method.expire,
        request: expect.objectContaining({ sessionId: "s1" }),
      }),
    ]);
    expect(kit.state).toEqual({ userId: "ada", ttlSeconds: 60, lastSeenEpochMs: 1_000_000 });
  });

  it("login without a ttl uses the default", async () => {
    const { kit } = setup();
    const r = await kit.call("login", { sessionId: "s1", userId: "ada" });
    expect(r.reply?.expiresEpochMs).toBe(BigInt(1_000_000 + DEFAULT_TTL_SECONDS * 1000));
  });

  it("touch refreshes last seen and moves the timer", async () => {
    const { kit, clock } = setup();
    await kit.call("login", { sessionId: "s1", userId: "ada", ttlSeconds: 60 });
    clock.now += 30_000;
    const r = await kit.call("touch", { sessionId: "s1" });
    expect(r.reply?.lastSeenEpochMs).toBe(1_030_000n);
    expect(r.timers).toEqual([
      expect.objectContaining({ kind: "schedule", name: "expire", dueEpochMs: 1_090_000 }),
    ]);
  });

  it("get and touch answer NOT_FOUND without a session, and change nothing", async () => {
    const { kit } = setup();
    const got = await kit.call("get", { sessionId: "s1" });
    expect(got.error?.code).toBe(Code.NotFound);
    expect(got.error?.message).toBe("no session 's1'");
    const touched = await kit.call("touch", { sessionId: "s1" });
    expect(touched.error?.code).toBe(Code.NotFound);
    expect(touched.timers).toEqual([]);
    expect(touched.updated).toBe(false);
    expect(kit.hasState).toBe(false);
  });

  it("refuses an empty user or a negative ttl", async () => {
    const { kit } = setup();
    const r = await kit.call("login", { sessionId: "s1", userId: "" });
    expect(r.error?.code).toBe(Code.InvalidArgument);
    const neg = await kit.call("login", { sessionId: "s1", userId: "ada", ttlSeconds: -1 });
    expect(neg.error?.code).toBe(Code.InvalidArgument);
    expect(neg.timers).toEqual([]);
  });

  it("logout deletes the state and cancels the timer; a later get is NOT_FOUND", async () => {
    const { kit } = setup();
    await kit.call("login", { sessionId: "s1", userId: "ada" });
    const r = await kit.call("logout", { sessionId: "s1" });
    expect(r.deleted).toBe(true);
    expect(r.reply).toMatchObject({ sessionId: "s1", userId: "ada", loggedIn: false });
    expect(r.timers).toEqual([{ kind: "cancel", name: "expire" }]);
    expect(kit.state).toBeNull();
    expect((await kit.call("get", { sessionId: "s1" })).error?.code).toBe(Code.NotFound);
  });

  it("expire deletes a session idle for its ttl", async () => {
    const { kit, clock } = setup();
    await kit.call("login", { sessionId: "s1", userId: "ada", ttlSeconds: 60 });
    clock.now += 60_000;
    const r = await kit.call("expire", { sessionId: "s1" });
    expect(r.deleted).toBe(true);
    expect(r.reply?.loggedIn).toBe(false);
    expect(kit.hasState).toBe(false);
  });

  it("expire reschedules when the session was touched meanwhile", async () => {
    const { kit, clock } = setup();
    await kit.call("login", { sessionId: "s1", userId: "ada", ttlSeconds: 60 });
    clock.now += 50_000;
    await kit.call("touch", { sessionId: "s1" });
    clock.now += 10_000; // the first deadline passed, the moved one did not
    const r = await kit.call("expire", { sessionId: "s1" });
    expect(r.deleted).toBe(false);
    expect(r.updated).toBe(false);
    expect(r.reply?.loggedIn).toBe(true);
    expect(r.timers).toEqual([
      expect.objectContaining({ kind: "schedule", name: "expire", dueEpochMs: 1_110_000 }),
    ]);
  });

  it("expire succeeds on a session already gone, so the timer is not retried", async () => {
    const { kit } = setup();
    const r = await kit.call("expire", { sessionId: "s1" });
    expect(r.error).toBeUndefined();
    expect(r.reply?.loggedIn).toBe(false);
  });

  it("the stored state survives re-activation", async () => {
    const { kit } = setup();
    await kit.call("login", { sessionId: "s1", userId: "ada", ttlSeconds: 60 });
    kit.restart();
    expect((await kit.call("get", { sessionId: "s1" })).reply?.userId).toBe("ada");
  });
});
