import { describe, expect, it } from "vitest";
import { createInputQueue, singleInput } from "../../src/ingress/input-queue.js";

function queue(limit: number) {
  const events: string[] = [];
  const q = createInputQueue<number>({
    limit,
    pause: () => events.push("pause"),
    resume: () => events.push("resume"),
  });
  return { q, events, it: q.iterable[Symbol.asyncIterator]() };
}

describe("input queue", () => {
  it("pauses the source at the limit and resumes it once half is read", async () => {
    const { q, events, it } = queue(4);
    for (let i = 0; i < 4; i++) q.push(i);
    expect(events).toEqual(["pause"]);
    await it.next();
    expect(events).toEqual(["pause"]);
    await it.next();
    expect(events).toEqual(["pause", "resume"]);
  });

  it("hands out messages in order, then ends after the buffered ones", async () => {
    const { q, it } = queue(10);
    q.push(1);
    q.push(2);
    q.end();
    q.push(3); // after the end: ignored
    expect(await it.next()).toEqual({ value: 1, done: false });
    expect(await it.next()).toEqual({ value: 2, done: false });
    expect((await it.next()).done).toBe(true);
  });

  it("wakes a waiting reader", async () => {
    const { q, it } = queue(10);
    const next = it.next();
    q.push(7);
    expect(await next).toEqual({ value: 7, done: false });
  });

  it("rejects the reader with the failure, dropping what was buffered", async () => {
    const { q, it } = queue(10);
    q.push(1);
    q.fail(new Error("bad message"));
    await expect(it.next()).rejects.toThrow("bad message");
  });

  it("stops keeping messages once the reader returns", async () => {
    const { q, it } = queue(10);
    q.push(1);
    await it.return?.();
    q.push(2);
    expect((await it.next()).done).toBe(true);
  });

  it("can be iterated only once", () => {
    const { q } = queue(1);
    expect(() => q.iterable[Symbol.asyncIterator]()).toThrow("only once");
  });

  it("singleInput yields exactly its message", async () => {
    const got: string[] = [];
    for await (const m of singleInput("one")) got.push(m);
    expect(got).toEqual(["one"]);
  });
});
