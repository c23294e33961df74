import { execFile } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
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
  it("runs the TypeScript function with CAIRN_FUNCTION_* set, restarts it on change and stops on SIGINT", async () => {
    running = startCli(devArgs, { cwd: dir });
    const [, port] = await running.waitForStderr(/starting main\.ts on 127\.0\.0\.1:(\d+)/);
    await running.waitForStdout(
      new RegExp(`\\[function\\] fixture up on 127\\.0\\.0\\.1:${port} \\(start 1\\)`),
    );
    writeFileSync(join(dir, "other.ts"), "export {};\n");
    await running.waitForStderr(/other\.ts changed; restarting the function/);
    await running.waitForStdout(/fixture up on \S+ \(start 2\)/);
    running.child.kill("SIGINT");
    expect(await running.exited).toBe(0);
  });

  it("restarts a function that crashed on its own, after a delay, and says so", async () => {
    writeFileSync(join(dir, "mode.json"), JSON.stringify({ exit: 3, times: 2 }));
    running = startCli(devArgs, { cwd: dir });
    await running.waitForStderr(
      /the function exited with code 3 after [\d.]+ s; restarting it in 0\.25 s \(crash 1 in a row\)/,
    );
    await running.waitForStderr(/restarting it in 1 s \(crash 2 in a row\)/);
    // Up on the third start, with no file changed.
    await running.waitForStdout(/fixture up on \S+ \(start 3\)/);
    expect(running.stderr()).not.toContain("changed; restarting");
    running.child.kill("SIGTERM");
    expect(await running.exited).toBe(0);
  });

  it("stops restarting a crash loop quickly, says what to fix, and restarts on the next change", async () => {
    writeFileSync(join(dir, "mode.json"), JSON.stringify({ exit: 3 }));
    running = startCli(devArgs, { cwd: dir });
    await running.waitForStderr(
      /crashed 4 times in a row, each soon after starting, so restarting cannot help: not restarting it again\. Fix the error in its output above \(the \[function\] lines\), then save a file to restart it/,
      30_000,
    );
    expect(running.stdout().match(/fixture exiting with 3/g)).toHaveLength(4);
    writeFileSync(join(dir, "mode.json"), JSON.stringify({}));
    await running.waitForStdout(/fixture up on \S+ \(start 5\)/);
    running.child.kill("SIGINT");
    expect(await running.exited).toBe(0);
  });

  it("survives editors' safe-write: two saves by rename, two restarts", async () => {
    running = startCli(devArgs, { cwd: dir });
    await running.waitForStdout(/fixture up on \S+ \(start 1\)/);
    const source = readFileSync(join(dir, "main.ts"), "utf8");
    for (const save of [1, 2]) {
      // What vim, JetBrains and sed -i do: write a new file, rename it over the old one.
      writeFileSync(join(dir, "main.ts.tmp"), `${source}\n// save ${save}\n`);
      renameSync(join(dir, "main.ts.tmp"), join(dir, "main.ts"));
      await running.waitForStdout(new RegExp(`fixture up on \\S+ \\(start ${save + 1}\\)`));
    }
    expect(running.stderr().match(/main\.ts changed; restarting the function/g)).toHaveLength(2);
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
    // Pages on localhost may call (a cairn dev default, said in the banner); others may not.
    expect(banner).toContain("Browser pages on localhost (any port) may call");
    const [, url] = /dev runtime ready on (http:\S+)/.exec(banner) ?? [];
    const local = await fetch(`${url}/carts/c1`, { headers: { origin: "http://localhost:5173" } });
    expect(local.status).toBe(200);
    expect(local.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    const evil = await fetch(`${url}/carts/c1`, { headers: { origin: "https://evil.example" } });
    expect(evil.status).toBe(403);
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
