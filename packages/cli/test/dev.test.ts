import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BIN, runCli, startCli } from "./run-cli.js";
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

  it("prints curl and cairn call lines that run as pasted, with the flags of non-default ports", async () => {
    const sample = resolve(import.meta.dirname, "../../../examples/shopping-cart/src/main.ts");
    running = startCli(["dev", sample, ...devArgs.slice(2), "--no-watch"], { cwd: dir });
    await running.waitForStderr(/grpcurl -plaintext \S+ list/, 30_000);
    const banner = running.stderr();
    const curls = banner.split("\n").filter((l) => l.trim().startsWith("curl "));
    const [call] = banner.split("\n").filter((l) => l.trim().startsWith("cairn call "));
    expect(curls.map((l) => l.trim().split(" ").slice(0, 3).join(" "))).toEqual([
      "curl -X POST",
      "curl -X DELETE",
      "curl -X GET",
      "curl -X POST",
    ]);
    // Ports were picked by the OS, so the line must say which.
    expect(call).toMatch(
      /^ {4}cairn call ShoppingCart\/AddItem '\{.*\}' --port \d+ --admin-port \d+$/,
    );
    const sh = promisify(execFile);
    const cairn = `'${process.execPath}' '${BIN}'`;
    await sh("sh", ["-c", call!.trim().replace(/^cairn /, `${cairn} `)], { timeout: 20_000 });
    // Add, remove, read, check out: each answers 2xx (curl --fail exits non-zero otherwise).
    for (const line of curls) {
      await sh("sh", ["-c", `${line.trim()} --fail-with-body -sS`], { timeout: 20_000 });
    }
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
