/**
 * A test process that dies without cleaning up (a worker killed on timeout,
 * a Ctrl-C'd run) must not leave its runtimes and functions running: they
 * keep ports and CPU and slow every later run on the machine.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { ROOT, waitUntil } from "./harness.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("harness children", () => {
  it("exit when the test process that started them is killed with SIGKILL", async () => {
    const parent = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "examples/shopping-cart/test/fixtures/orphan-parent.ts")],
      { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
    );
    const pids = await new Promise<{ functionPid: number; runtimePid: number }>(
      (resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no pids within 30 s")), 30_000);
        createInterface({ input: parent.stdout }).on("line", (line) => {
          if (!line.startsWith('{"functionPid"')) return;
          clearTimeout(timer);
          resolve(JSON.parse(line) as { functionPid: number; runtimePid: number });
        });
      },
    );
    try {
      expect(alive(pids.functionPid) && alive(pids.runtimePid)).toBe(true);
      parent.kill("SIGKILL");
      await waitUntil(
        () => !alive(pids.functionPid) && !alive(pids.runtimePid),
        10_000,
        "orphaned runtime and function exit",
      );
    } finally {
      // Only if the guard failed: never leave them behind ourselves.
      for (const pid of [pids.functionPid, pids.runtimePid])
        if (alive(pid)) process.kill(pid, "SIGKILL");
      if (parent.exitCode === null) parent.kill("SIGKILL");
    }
  }, 45_000);
});
