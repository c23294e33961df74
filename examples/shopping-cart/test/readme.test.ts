/**
 * The README's quickstart, run as a reader pastes it: every `curl` and
 * `npx cairn` line of its shell blocks against a real runtime and the
 * sample, in order, each answering 2xx and printing what the README says.
 * The CLI lines carry no flags: CAIRN_PORT and CAIRN_ADMIN_PORT point them
 * at the test's runtime, as they would at a `cairn dev` started with them.
 */
import { join } from "node:path";
import { describe, it } from "vitest";
import { ROOT } from "./harness.js";
import { runReadmeOf } from "./readme-runner.js";

describe("the README quickstart", () => {
  it("runs as written against the shopping-cart sample", async () => {
    await runReadmeOf({
      readme: join(ROOT, "README.md"),
      section: "Quickstart",
      entry: join(ROOT, "examples/shopping-cart/src/main.ts"),
      prefixes: ["curl ", "npx cairn "],
      count: 6,
    });
  });
});
