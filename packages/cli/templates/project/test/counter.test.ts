// Unit tests with the SDK's testkit: the counter's handlers run in memory,
// through the same command path as in production, without a runtime.
import { Code } from "@cairn/sdk";
import { createValueEntityTestKit } from "@cairn/sdk/testkit";
import { describe, expect, it } from "vitest";
import { counter } from "../src/counter.js";

describe("counter", () => {
  it("increases by 1, or by the amount asked", async () => {
    const kit = createValueEntityTestKit(counter, { entityId: "c1" });
    expect((await kit.call("increase", { counterId: "c1" })).reply).toMatchObject({ value: 1 });
    expect((await kit.call("increase", { counterId: "c1", by: 5 })).reply).toMatchObject({
      value: 6,
    });
    expect(kit.state).toEqual({ value: 6 });
  });

  it("refuses a negative amount and keeps its state", async () => {
    const kit = createValueEntityTestKit(counter, { entityId: "c1", state: { value: 2 } });
    const failed = await kit.call("increase", { counterId: "c1", by: -1 });
    expect(failed.error?.code).toBe(Code.InvalidArgument);
    expect(kit.state).toEqual({ value: 2 });
  });

  it("resets to zero", async () => {
    const kit = createValueEntityTestKit(counter, { entityId: "c1", state: { value: 7 } });
    expect((await kit.call("reset", { counterId: "c1" })).deleted).toBe(true);
    expect((await kit.call("get", { counterId: "c1" })).reply).toMatchObject({ value: 0 });
  });
});
