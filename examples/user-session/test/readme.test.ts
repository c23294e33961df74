/**
 * The sample's README, run as a reader pastes it: every `curl` line against
 * a real runtime and the sample, in order, each answering 2xx and printing
 * what the README says (but the times).
 */
import { join } from "node:path";
import { describe, it } from "vitest";
import { runReadmeOf } from "../../shopping-cart/test/readme-runner.js";

describe("the user-session README", () => {
  it("runs as written", async () => {
    await runReadmeOf({
      readme: join(import.meta.dirname, "../README.md"),
      entry: join(import.meta.dirname, "../src/main.ts"),
      prefixes: ["curl "],
      count: 7,
      ignore: ["lastSeenEpochMs", "expiresEpochMs"],
    });
  });
});
