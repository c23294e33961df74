import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli, startCli } from "./run-cli.js";
import type { CliProcess } from "./run-cli.js";

let dir: string;
let running: CliProcess | undefined;
beforeEach(() => {
  // A project folder of its own: the watcher sees only the test's writes.
  dir = mkdtempSync(join(tmpdir(), "cairn-dev-"));
  copyFileSync(new URL("./fixtures/function.ts", import.meta.url), join(dir, "main.ts"));
});
afterEach(async () => {
  await running?.kill();
  running = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const devArgs = [
  "dev",
  "main.ts",
  "--port",
  "0",
  "--admin-port",
  "0",
  "--function-port",
  "0",
  "--store",
  "memory",
  "--log-level",
  "silent",
];

describe("cairn dev", () => {
  it("runs the TypeScript function with CAIRN_FUNCTION_* set, restarts it on change, reports its exit and stops on SIGINT", async () => {
    running = startCli(devArgs, { cwd: dir });
    const [, port] = await running.waitForStderr(/starting main\.ts on 127\.0\.0\.1:(\d+)/);
    await running.waitForStdout(new RegExp(`\\[function\\] fixture up on 127\\.0\\.0\\.1:${port}`));

    writeFileSync(join(dir, "mode.json"), JSON.stringify({ exit: 3 }));
    await running.waitForStderr(/mode\.json changed; restarting the function/);
    await running.waitForStderr(/the function exited with code 3; waiting for a file change/);
    expect(running.stdout()).toContain("[function] fixture exiting with 3");

    writeFileSync(join(dir, "mode.json"), JSON.stringify({}));
    await running.waitForStdout(/fixture exiting with 3[\s\S]*fixture up/);

    running.child.kill("SIGINT");
    expect(await running.exited).toBe(0);
  });

  it("keeps its default SQLite store in .cairn/cairn.db under the current directory", async () => {
    const args = devArgs.filter((a, i) => a !== "--store" && devArgs[i - 1] !== "--store");
    running = startCli([...args, "--no-watch"], { cwd: dir });
    await running.waitForStdout(/fixture up/);
    const deadline = Date.now() + 15_000;
    while (!existsSync(join(dir, ".cairn", "cairn.db")) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(existsSync(join(dir, ".cairn", "cairn.db"))).toBe(true);
    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
  });

  it("explains a missing entry file with exit code 2", async () => {
    const result = await runCli(["dev", join(dir, "nope.ts")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("entry file");
    expect(result.stderr).toContain("not found");
  });
});
